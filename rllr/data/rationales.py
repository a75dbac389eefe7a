"""Teacher rationales for the gold and a wrong label of every SFT example (RLLR App. B, D).

    counts = build_rationales(task, task.load("sft"), teacher, "runs/r/rationales.jsonl")

For each example: the wrong label is `Task.wrong_label` with an RNG seeded by
(seed, uid), so it does not depend on order or on resuming; the teacher is asked with the
exact RLLR prompt (`rllr.teacher.prompts.rationale_prompt`) once for the gold label and
once for the wrong one. Every example ends in exactly one of three files:

- `rationales.jsonl`: both rationales present and accepted (status "ok");
- `rationales.failed.jsonl`: a teacher request failed or came back empty (with the reason);
- `rationales.filtered.jsonl`: the refusal filter flagged a rationale (with the reason, and
  `gold_ok`: whether the gold one passed; SFT with rationales still uses those).

Resuming: examples are processed in order in chunks and rows are appended (fsynced) in
order; a rerun drops a torn last line, skips every uid already in one of the three files
and goes on. With a deterministic teacher (greedy, or its cache) a killed-and-rerun job
writes byte-for-byte the same files as an uninterrupted one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

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


def build_rationales(task: Task, examples: Sequence[Example], teacher: Teacher, out: str | Path,
                     *, seed: int = 0, max_tokens: int = 256, temperature: float = 0.0,
                     chunk_size: int = 16, check: Check | None = None) -> RationaleCounts:
    """Write rationale rows for `examples` (resuming) and return the counts of this call."""
    ok_path, failed_path, filtered_path = side_paths(out)
    seen = _resume(ok_path) | _resume(failed_path) | _resume(filtered_path)
    for path in (ok_path, failed_path, filtered_path):  # all three exist, even when empty
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    todo = [ex for ex in examples if ex.uid not in seen]
    labels = [task.format_label(label) for label in task.labels]
    done = failed = filtered = 0
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        wrong = [wrong_label_for(task, ex, seed) for ex in chunk]
        requests = []
        for ex, w in zip(chunk, wrong):
            for label in (ex.label, w):
                prompt = rationale_prompt(task.question(ex), task.format_label(label))
                requests.append(ChatRequest(user(prompt), temperature=temperature,
                                            max_tokens=max_tokens, seed=seed))
        results = teacher.chat(requests)
        rows = []
        for k, (ex, w) in enumerate(zip(chunk, wrong)):
            gold_res, wrong_res = results[2 * k], results[2 * k + 1]
            row = {"uid": ex.uid, "task": task.name, "question": task.question(ex),
                   "label": ex.label, "wrong_label": w, "rationale_gold": gold_res.text.strip(),
                   "rationale_wrong": wrong_res.text.strip(), "teacher": teacher.model}
            errors = [f"{side}: {r.error or 'empty answer'}"
                      for side, r in (("gold", gold_res), ("wrong", wrong_res))
                      if not r.ok or not r.text.strip()]
            if errors:  # empty teacher answers never reach the outputs
                rows.append((failed_path, {"uid": ex.uid, "task": task.name, "status": "failed",
                                           "reason": "; ".join(errors)}))
            else:
                rows.append((ok_path, {**row, "status": "ok"}))
        if check is not None:
            rows = _apply_check(task, rows, check, labels, filtered_path)
        for path, row in rows:  # in example order: a kill leaves a clean prefix
            append_jsonl(path, row)
            done += path == ok_path
            failed += path == failed_path
            filtered += path == filtered_path
        log.info("rationales %s: %d/%d (failed %d, filtered %d)", task.name,
                 start + len(chunk), len(todo), failed, filtered)
    return RationaleCounts(done, failed, filtered, len(examples) - len(todo))


def _apply_check(task: Task, rows: list[tuple[Path, dict[str, Any]]], check: Check,
                 labels: Sequence[str], filtered_path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Move ok rows whose gold or wrong rationale the filter flags to the filtered file."""
    ok = [i for i, (_, r) in enumerate(rows) if r["status"] == "ok"]
    texts, targets = [], []
    for i in ok:
        r = rows[i][1]
        texts += [r["rationale_gold"], r["rationale_wrong"]]
        targets += [task.format_label(r["label"]), task.format_label(r["wrong_label"])]
    reasons = check(texts, targets, labels) if texts else []
    for j, i in enumerate(ok):
        gold_reason, wrong_reason = reasons[2 * j], reasons[2 * j + 1]
        if gold_reason or wrong_reason:
            why = "; ".join(f"{side}: {r}" for side, r in (("gold", gold_reason),
                                                          ("wrong", wrong_reason)) if r)
            # gold_ok: SFT with rationales can still use the gold one (`rllr.data.sft.load_rationales`)
            rows[i] = (filtered_path, {**rows[i][1], "status": "filtered", "reason": why,
                                       "gold_ok": not gold_reason})
    return rows
