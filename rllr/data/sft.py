"""SFT data: prompt + answer token ids with the loss on answer tokens only, task mixtures, a collator.

Three answer styles (RLLR section 3.1 and the second paper, section 4.1):

- ``label``:     ``The answer is: {label}`` (RLLR template without a rationale)
- ``rationale``: ``{rationale}\\n\\nThe answer is: {label}``, rationales read from a JSONL file
- ``judgement``: ``<Judgement>{label}</Judgement>`` (the prefix is part of the prompt)

The prompt is the chat-rendered task prompt (`render_prompt`), the target is
`Task.target(...) + end_of_turn`. Prompt and target are tokenized separately and
concatenated, so training sees exactly the token boundary that generation continues from.
A prompt too long for `max_length` is cut from the LEFT (the question and the assistant
header at the end are kept); every cut is counted in `SFTStats` and reported by the trainer.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rllr.errors import DataError
from rllr.io import read_jsonl
from rllr.models.chat import end_of_turn, render_prompt
from rllr.tasks.base import Example, Format, Task

Answer = Literal["label", "rationale", "judgement"]
log = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass
class SFTStats:
    """What building the dataset did to the data (written into the run summary)."""

    examples: int = 0
    truncated_prompts: int = 0
    skipped_missing_rationales: int = 0
    per_task: dict[str, int] = field(default_factory=dict)


def answer_format(answer: Answer) -> Format:
    return "judgement" if answer == "judgement" else "rllr"


# --- rationales ----------------------------------------------------------------------------


def load_rationales(path: str | Path) -> dict[str, str]:
    """Rationales keyed by Example.uid; rows give `uid`, or `task` + `index` (0-based train row).

    The text is `rationale`, or `rationale_gold` in files written by `rllr data rationales`,
    so the teacher's output feeds SFT with rationales directly.
    `task` + `index` maps to the uid ``{task}/train/{index + 1}`` (uids count file lines from 1),
    which is also what the 'sft' split uses since it is a prefix of the train file.
    Rows of the sibling `<name>.filtered.jsonl` whose gold rationale passed the refusal
    filter (`gold_ok`: only the wrong-label one, which SFT does not use, was flagged) are
    added too, and counted in the log.
    """
    from rllr.data.rationales import side_paths

    rows = read_jsonl(path)
    out: dict[str, str] = {}
    added = 0
    for lineno, row in enumerate(rows, start=1):
        text = row.get("rationale", row.get("rationale_gold"))
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: field 'rationale': missing or empty")
        if isinstance(row.get("uid"), str):
            out[row["uid"]] = text
        elif isinstance(row.get("task"), str) and isinstance(row.get("index"), int):
            out[f"{row['task']}/train/{row['index'] + 1}"] = text
        else:
            raise DataError(f"{path}:{lineno}: field 'uid' (or 'task' + 'index'): missing")
    filtered = side_paths(path)[2]
    if filtered.is_file():
        for lineno, row in enumerate(read_jsonl(filtered), start=1):
            if row.get("gold_ok") is not True:
                continue
            text, uid = row.get("rationale_gold"), row.get("uid")
            if not isinstance(text, str) or not text.strip() or not isinstance(uid, str):
                raise DataError(f"{filtered}:{lineno}: fields 'uid' and 'rationale_gold': missing or empty")
            out.setdefault(uid, text)
            added += 1
        if added:
            log.info("%s: %d gold rationales from %s (only their wrong-label rationale was filtered)",
                     path, added, filtered.name)
    return out


def _rationale_for(ex: Example, rationales: Mapping[str, str]) -> str | None:
    if ex.uid in rationales:
        return rationales[ex.uid]
    # 'sft' uids share line numbers with 'train' uids (the sft split is a prefix of train)
    return rationales.get(ex.uid.replace("/sft/", "/train/", 1))


# --- encoding ------------------------------------------------------------------------------


def encode_sft(tokenizer: Any, prompt_text: str, target_text: str,
               max_length: int) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, truncated): labels are -100 on prompt tokens, prompt cut from the left."""
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target_text, add_special_tokens=False)["input_ids"]
    if len(target_ids) >= max_length:
        raise DataError(f"answer of {len(target_ids)} tokens does not fit max_length={max_length}: "
                        f"{target_text[:60]!r}...")
    room = max_length - len(target_ids)
    truncated = len(prompt_ids) > room
    if truncated:
        prompt_ids = prompt_ids[len(prompt_ids) - room:]
    input_ids = list(prompt_ids) + list(target_ids)
    labels = [IGNORE_INDEX] * len(prompt_ids) + list(target_ids)
    return input_ids, labels, truncated


def build_sft_rows(task: Task, examples: Sequence[Example], tokenizer: Any, *, answer: Answer,
                   max_length: int, rationales: Mapping[str, str] | None = None,
                   rationale_file: str | Path | None = None, skip_missing_rationales: bool = False,
                   stats: SFTStats | None = None) -> list[dict[str, Any]]:
    """Token rows {input_ids, labels, task, uid} for one task's examples."""
    stats = stats if stats is not None else SFTStats()
    fmt = answer_format(answer)
    if answer == "rationale" and rationales is None:
        raise DataError(f"task {task.name}: answer 'rationale' needs a rationale file")
    eot = end_of_turn(tokenizer)
    rows = []
    for ex in examples:
        rationale = None
        if answer == "rationale":
            assert rationales is not None
            rationale = _rationale_for(ex, rationales)
            if rationale is None:
                if not skip_missing_rationales:
                    raise DataError(f"{rationale_file or 'rationales'}: no rationale for uid {ex.uid!r} "
                                    "(set data.skip_missing_rationales=true to skip such examples)")
                stats.skipped_missing_rationales += 1
                continue
        prompt_text = render_prompt(tokenizer, task.prompt(ex, fmt))
        target_text = task.target(ex, fmt, rationale=rationale) + eot
        input_ids, labels, cut = encode_sft(tokenizer, prompt_text, target_text, max_length)
        stats.truncated_prompts += int(cut)
        rows.append({"input_ids": input_ids, "labels": labels, "task": task.name, "uid": ex.uid})
    stats.examples += len(rows)
    stats.per_task[task.name] = stats.per_task.get(task.name, 0) + len(rows)
    return rows


# --- mixtures and order --------------------------------------------------------------------


def mix(per_task: Mapping[str, Sequence[dict[str, Any]]], weights: Sequence[float] = (),
        total: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """A multi-task mixture. No weights: all rows of every task. Weights: task i gets
    round(w_i / sum(w) * total) rows (total defaults to all rows), drawn without replacement
    and cycling through fresh shuffles when a task is smaller than its share (seeded)."""
    names = list(per_task)
    if not weights:
        return [row for name in names for row in per_task[name]]
    if len(weights) != len(names):
        raise DataError(f"data.weights has {len(weights)} entries for {len(names)} tasks")
    rng = random.Random(seed)
    total = total if total is not None else sum(len(per_task[n]) for n in names)
    out: list[dict[str, Any]] = []
    for name, w in zip(names, weights):
        rows = list(per_task[name])
        want = round(w / sum(weights) * total)
        if not rows and want:
            raise DataError(f"task {name}: no rows to sample from")
        while want > 0:
            take = rng.sample(rows, min(want, len(rows)))
            out.extend(take)
            want -= len(take)
    return out


def epoch_order(n: int, epochs: int, seed: int) -> list[int]:
    """Row indices for `epochs` passes, each a fresh seeded permutation (identical on every rank)."""
    order: list[int] = []
    for epoch in range(epochs):
        perm = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(perm)
        order.extend(perm)
    return order


def collate_sft(rows: Sequence[Mapping[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-pad a micro-batch: input_ids/labels/attention_mask [B, L] (labels -100 on padding)."""
    import torch

    L = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), L), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.tensor(r["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
