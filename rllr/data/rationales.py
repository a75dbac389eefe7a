"""Teacher rationales for the gold and a wrong label of every SFT example (RLLR App. B, D).

    counts = build_rationales(task, task.load("sft"), teacher, "runs/r/rationales.jsonl")

For each example: the wrong label is `Task.wrong_label` with an RNG seeded by
(seed, uid), so it does not depend on order or on resuming; the teacher is asked with the
exact RLLR prompt (`rllr.teacher.prompts.rationale_prompt`) once for the gold label and
once for the wrong one. Every example ends in exactly one of three files:

- `rationales.jsonl`: both rationales present and accepted (status "ok");
- `rationales.failed.jsonl`: a teacher request failed or came back empty or unusable (with the
  reason);
- `rationales.filtered.jsonl`: the refusal filter flagged a rationale (with the reason, and
  `gold_ok`: whether the gold one passed; SFT with rationales still uses those).

Options: `truncated` trims (or drops) answers that stop mid-sentence, and `resample` asks
again, at a temperature, for each rationale that failed or was flagged; rows that needed it
record `attempts` and `trimmed`.

Resuming: examples are processed in order in chunks and rows are appended (fsynced) in
order; a rerun drops a torn last line, skips every uid already in one of the three files
and goes on. With a deterministic teacher (greedy, or its cache) a killed-and-rerun job
writes byte-for-byte the same files as an uninterrupted one.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from rllr.io import append_jsonl, read_jsonl, write_jsonl
from rllr.tasks.base import Example, Task
from rllr.teacher.client import ChatRequest, Teacher
from rllr.teacher.prompts import rationale_prompt, user

log = logging.getLogger(__name__)

# (texts, target label words, all label words) -> a reason per text, None = keep
Check = Callable[[Sequence[str], Sequence[str], Sequence[str]], list[str | None]]


class RationaleCounts(NamedTuple):
    done: int
    failed: int
    filtered: int
    skipped: int
    """Examples already in the output files when the job started (resume)."""
    resampled: int = 0
    """Rationale requests asked again (`resample`)."""


def side_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """(ok, failed, filtered) files for output `out` (x.jsonl -> x.failed.jsonl, x.filtered.jsonl)."""
    out = Path(out)
    stem = out.name.removesuffix(".jsonl")
    return out, out.with_name(f"{stem}.failed.jsonl"), out.with_name(f"{stem}.filtered.jsonl")


def _resume(path: Path) -> set[str]:
    """uids in `path`; a torn last line (killed writer) is removed from the file first."""
    if not path.is_file():
        return set()
    rows = read_jsonl(path, tolerate_torn_tail=True)
    if not path.read_bytes().endswith(b"\n") and path.stat().st_size:
        write_jsonl(path, rows)
    return {str(r["uid"]) for r in rows}


def wrong_label_for(task: Task, ex: Example, seed: int) -> Any:
    return task.wrong_label(ex, random.Random(f"{seed}:{ex.uid}"))


Truncated = Literal["keep", "trim", "drop"]
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s|$)")


def complete_sentences(text: str) -> str:
    """`text` up to the end of its last complete sentence ("" if it has none).

    A teacher that hits `max_tokens` stops mid-sentence; SFT on such a rationale teaches the
    student to break off and then answer. A sentence ends at . ! or ? (with closing quotes or
    brackets) followed by whitespace or the end, so "3.5 stars" and "e.g.," do not end one.
    """
    text = text.strip()
    ends = list(_SENTENCE_END.finditer(text))
    return text[:ends[-1].end()] if ends else ""


@dataclass
class _Side:
    """One rationale request of an example (gold or wrong label) over its attempts."""

    name: str  # "gold" or "wrong"
    target: str  # the label word the rationale argues for
    messages: tuple[dict[str, str], ...]  # the teacher request, the same on every attempt
    text: str = ""
    failure: str | None = None  # the request failed or left nothing usable
    flag: str | None = None  # the refusal filter's reason
    attempts: int = 0
    trimmed: bool = False


def build_rationales(task: Task, examples: Sequence[Example], teacher: Teacher, out: str | Path,
                     *, seed: int = 0, max_tokens: int = 256, temperature: float = 0.0,
                     chunk_size: int = 16, check: Check | None = None,
                     truncated: Truncated = "keep", resample: int = 0,
                     resample_temperature: float = 0.7) -> RationaleCounts:
    """Write rationale rows for `examples` (resuming) and return the counts of this call.

    `truncated`: what to do with an answer that does not end a sentence (the teacher hit
    `max_tokens`): keep it, trim it to its complete sentences (`complete_sentences`; none
    left = a failed answer), or drop it (a failed answer). `resample`: ask again up to this
    many times, at `resample_temperature` with seeds seed+1, seed+2, ..., for each rationale
    that failed, came back empty or unusable, or was flagged by `check`; the first attempt is
    the plain request, so earlier caches still answer it.
    """
    if truncated not in ("keep", "trim", "drop"):
        raise ValueError(f"truncated must be keep, trim or drop, got {truncated!r}")
    if resample < 0:
        raise ValueError(f"resample must be >= 0, got {resample}")
    ok_path, failed_path, filtered_path = side_paths(out)
    seen = _resume(ok_path) | _resume(failed_path) | _resume(filtered_path)
    for path in (ok_path, failed_path, filtered_path):  # all three exist, even when empty
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    todo = [ex for ex in examples if ex.uid not in seen]
    labels = [task.format_label(label) for label in task.labels]
    done = failed = filtered = resampled = 0
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        wrong = [wrong_label_for(task, ex, seed) for ex in chunk]
        sides = [_Side(name, target, user(rationale_prompt(task.question(ex), target)))
                 for ex, w in zip(chunk, wrong)
                 for name, target in (("gold", task.format_label(ex.label)), ("wrong", task.format_label(w)))]
        pending = sides
        for attempt in range(resample + 1):
            temp, req_seed = (temperature, seed) if attempt == 0 else (resample_temperature, seed + attempt)
            requests = [ChatRequest(sd.messages, temperature=temp, max_tokens=max_tokens, seed=req_seed)
                        for sd in pending]
            for sd, res in zip(pending, teacher.chat(requests)):
                _take_answer(sd, res.text if res.ok else "", res.error, truncated)
            answered = [sd for sd in pending if sd.failure is None]
            if check is not None and answered:
                reasons = check([sd.text for sd in answered], [sd.target for sd in answered], labels)
                for sd, why in zip(answered, reasons):
                    sd.flag = why
            resampled += (attempt > 0) * len(pending)
            pending = [sd for sd in pending if sd.failure is not None or sd.flag is not None]
            if not pending:
                break
        rows = [_row(task, ex, w, sides[2 * k], sides[2 * k + 1], teacher.model)
                for k, (ex, w) in enumerate(zip(chunk, wrong))]
        for status, row in rows:  # in example order: a kill leaves a clean prefix
            path = {"ok": ok_path, "failed": failed_path, "filtered": filtered_path}[status]
            append_jsonl(path, row)
            done += status == "ok"
            failed += status == "failed"
            filtered += status == "filtered"
        log.info("rationales %s: %d/%d (failed %d, filtered %d, resampled %d)", task.name,
                 start + len(chunk), len(todo), failed, filtered, resampled)
    return RationaleCounts(done, failed, filtered, len(examples) - len(todo), resampled)


def _take_answer(sd: _Side, text: str, error: str | None, truncated: Truncated) -> None:
    """Record one attempt's answer on `sd`: its text, or why it is not usable.

    An unusable answer to a resample does not replace a usable but flagged earlier one, so
    resampling never loses a row that would have been kept without it (e.g. as `gold_ok`).
    """
    sd.attempts += 1
    text = text.strip()
    failure: str | None = None
    trimmed = False
    if error is not None or not text:
        failure = error or "empty answer"
    elif truncated != "keep" and (whole := complete_sentences(text)) != text:
        if truncated == "drop":
            failure = "cut off mid-sentence"
        elif not whole:
            failure = "no complete sentence"
        else:
            text, trimmed = whole, True
    if failure is not None and sd.attempts > 1 and sd.failure is None:
        return  # keep the earlier flagged answer (and its flag)
    sd.text, sd.failure, sd.flag, sd.trimmed = ("" if failure else text), failure, None, trimmed


def _row(task: Task, ex: Example, wrong: Any, gold: _Side, bad: _Side, teacher: str) -> tuple[str, dict[str, Any]]:
    """(status, row) of one example from its two sides: failed > filtered > ok."""
    base: dict[str, Any] = {"uid": ex.uid, "task": task.name}
    row = {**base, "question": task.question(ex), "label": ex.label, "wrong_label": wrong,
           "rationale_gold": gold.text, "rationale_wrong": bad.text, "teacher": teacher}
    extra: dict[str, Any] = {}
    if gold.attempts > 1 or bad.attempts > 1:
        extra["attempts"] = {"gold": gold.attempts, "wrong": bad.attempts}
    if gold.trimmed or bad.trimmed:
        extra["trimmed"] = [sd.name for sd in (gold, bad) if sd.trimmed]
    errors = [f"{sd.name}: {sd.failure}" for sd in (gold, bad) if sd.failure is not None]
    if errors:  # unusable teacher answers never reach the outputs
        return "failed", {**base, "status": "failed", "reason": "; ".join(errors), **extra}
    flags = [f"{sd.name}: {sd.flag}" for sd in (gold, bad) if sd.flag is not None]
    if flags:
        # gold_ok: SFT with rationales can still use the gold one (`rllr.data.sft.load_rationales`)
        return "filtered", {**row, "status": "filtered", "reason": "; ".join(flags),
                            "gold_ok": gold.flag is None, **extra}
    return "ok", {**row, "status": "ok", **extra}
