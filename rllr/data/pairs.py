"""Preference pairs for Bradley-Terry reward models (RLLR section 3.2, Appendix D).

One JSON object per line:

    {"prompt": "<user message>", "system": "<optional>", "chosen": "<assistant text>",
     "rejected": "<assistant text>", "margin": 0.0, "task": "sst2", "kind": "label"}

`kind` is ``label`` (label-sensitive: same answer style, gold vs wrong label) or
``rationale`` (rationale-sensitive: right label with a good vs a bad rationale).
Each side is encoded as the chat-rendered prompt followed by the assistant text and the
end-of-turn token; the reward is read at that last token.

Bad input: an empty file or a missing/ill-typed field raises `DataError` naming
``file:line:field``; a pair whose chosen equals its rejected text is skipped and counted;
a sequence longer than `max_length` is cut from the left (prompt first) and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rllr.errors import DataError
from rllr.io import read_jsonl
from rllr.models.chat import end_of_turn, render_prompt
from rllr.tasks.base import Prompt

KINDS = ("label", "rationale")


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    system: str | None = None
    margin: float = 0.0
    task: str = "all"
    kind: str | None = None


@dataclass
class PairStats:
    """Counts reported by the trainer and the evaluator (never silent)."""

    pairs: int = 0
    skipped_identical: int = 0
    skipped_kind: int = 0
    truncated: int = 0


def read_pairs(path: str | Path, *, kind: str | None = None,
               stats: PairStats | None = None) -> list[Pair]:
    """Validated pairs of `path` (only those of `kind` when given)."""
    stats = stats if stats is not None else PairStats()
    rows = read_jsonl(path)
    if not rows:
        raise DataError(f"{path}: no pairs (empty file)")
    pairs = []
    for lineno, row in enumerate(rows, start=1):
        where = f"{path}:{lineno}"
        for f in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(f), str) or not row[f].strip():
                raise DataError(f"{where}: field '{f}': {'missing' if f not in row else 'empty or not text'}")
        for f in ("system", "task", "kind"):
            if row.get(f) is not None and not isinstance(row[f], str):
                raise DataError(f"{where}: field '{f}': expected text")
        if row.get("kind") is not None and row["kind"] not in KINDS:
            raise DataError(f"{where}: field 'kind': {row['kind']!r} is not one of {KINDS}")
        margin = row.get("margin", 0.0)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)):
            raise DataError(f"{where}: field 'margin': expected a number")
        if kind is not None and row.get("kind") not in (None, kind):
            stats.skipped_kind += 1
            continue
        if row["chosen"].strip() == row["rejected"].strip():
            stats.skipped_identical += 1
            continue
        pairs.append(Pair(prompt=row["prompt"], chosen=row["chosen"], rejected=row["rejected"],
                          system=row.get("system"), margin=float(margin),
                          task=row.get("task") or "all", kind=row.get("kind")))
    if not pairs:
        raise DataError(f"{path}: no usable pairs ({stats.skipped_identical} identical, "
                        f"{stats.skipped_kind} of another kind)")
    stats.pairs += len(pairs)
    return pairs


def encode_response(tokenizer: Any, pair: Pair, response: str, max_length: int) -> tuple[list[int], bool]:
    """Token ids of prompt + response + end of turn, cut from the left to `max_length`."""
    messages = ([{"role": "system", "content": pair.system}] if pair.system else []) + \
               [{"role": "user", "content": pair.prompt}]
    text = render_prompt(tokenizer, Prompt(messages=tuple(messages))) + response + end_of_turn(tokenizer)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    truncated = len(ids) > max_length
    return (ids[len(ids) - max_length:] if truncated else ids), truncated


def encode_pairs(tokenizer: Any, pairs: Sequence[Pair], max_length: int,
                 stats: PairStats | None = None) -> list[dict[str, Any]]:
    """Rows {chosen_ids, rejected_ids, margin, task}; truncations counted in `stats`."""
    stats = stats if stats is not None else PairStats()
    rows = []
    for p in pairs:
        chosen, cut_c = encode_response(tokenizer, p, p.chosen, max_length)
        rejected, cut_r = encode_response(tokenizer, p, p.rejected, max_length)
        stats.truncated += int(cut_c or cut_r)
        rows.append({"chosen_ids": chosen, "rejected_ids": rejected, "margin": p.margin, "task": p.task})
    return rows


def collate_pairs(rows: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Right-padded [2B, L] input_ids / attention_mask (chosen rows first, then rejected) + margin [B]."""
    import torch

    seqs = [r["chosen_ids"] for r in rows] + [r["rejected_ids"] for r in rows]
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    margin = torch.tensor([float(r["margin"]) for r in rows])
    return {"input_ids": ids, "attention_mask": mask, "margin": margin}
