"""`rllr judge`: LLM-judge win/tie/lose of two systems' rationales, or 1-5 scores.

    rllr judge --a runs/rllr/predictions/sst2.jsonl --b runs/sft/predictions/sst2.jsonl \\
        --teacher-url http://127.0.0.1:8000/v1 --out runs/judge/sst2
    rllr judge --score --a runs/rllr/predictions/sst2.jsonl --teacher-url ... --out runs/judge/s

Inputs are `rllr eval` predictions (uid, prompt, completions | completion, gold), matched by
uid. The question shown to the judge is the last user turn of the rendered prompt (or a
`question` field when present). Writes `<out>.jsonl` and `<out>.summary.json`.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from rllr.commands.data import _teacher_args, make_teacher_from_args
from rllr.errors import DataError
from rllr.io import atomic_write_json, read_jsonl, write_jsonl


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--a", required=True, help="predictions JSONL of system A")
    parser.add_argument("--b", help="predictions JSONL of system B (pairwise mode)")
    parser.add_argument("--score", action="store_true", help="1-5 correctness/coherence of --a")
    parser.add_argument("--out", required=True, help="output prefix: <out>.jsonl, <out>.summary.json")
    parser.add_argument("--limit", type=int)
    _teacher_args(parser)


def question_of(row: dict[str, Any]) -> str:
    """The question text: `question`, else the last user turn of a rendered chat prompt."""
    if row.get("question"):
        return str(row["question"])
    prompt = str(row.get("prompt", ""))
    m = re.findall(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", prompt, re.DOTALL)
    if m:
        return m[-1].strip()
    m = re.findall(r"User: (.*?)\n\nAssistant:", prompt, re.DOTALL)
    return m[-1].strip() if m else prompt.strip()


def load_items(path: str) -> dict[str, dict[str, Any]]:
    items = {}
    for lineno, row in enumerate(read_jsonl(path), start=1):
        answer = row.get("completion")
        if answer is None and isinstance(row.get("completions"), list) and row["completions"]:
            answer = row["completions"][0]
        if "uid" not in row or not isinstance(answer, str):
            raise DataError(f"{path}:{lineno}: needs 'uid' and 'completion' (or 'completions')")
        gold = row.get("gold")
        items[str(row["uid"])] = {"uid": str(row["uid"]), "question": question_of(row),
                                  "answer": answer, "reference": None if gold is None else str(gold)}
    return items


def run(args: argparse.Namespace) -> int:
    from rllr.teacher.judge import judge_pairs, judge_scores

    t0 = time.time()
    out = Path(args.out)
    teacher = make_teacher_from_args(args, out)
    a = load_items(args.a)
    if args.score:
        items = list(a.values())[: args.limit]
        rows, summary = judge_scores(teacher, items)
    else:
        if not args.b:
            raise DataError("pairwise judging needs --b (or use --score)")
        b = load_items(args.b)
        uids = [u for u in a if u in b][: args.limit]
        if not uids:
            raise DataError(f"{args.a} and {args.b}: no uid in common")
        rows, summary = judge_pairs(teacher, [a[u] for u in uids], [b[u] for u in uids])
        summary.update(a=args.a, b=args.b, unmatched=len(set(a) ^ set(b)))
    summary["teacher"] = {"model": teacher.model, **teacher.stats.as_dict()}
    summary["wall_s"] = round(time.time() - t0, 1)
    write_jsonl(out.with_name(out.name + ".jsonl"), rows)
    atomic_write_json(out.with_name(out.name + ".summary.json"), summary)
    print(json.dumps(summary))
    return 0
