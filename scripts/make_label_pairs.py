"""Label-sensitive preference pairs from real task data (RLLR section 3.2, Appendix D), no teacher.

    python scripts/make_label_pairs.py --tasks sst2,mrpc --split sft --limit 300 --out pairs/label_train.jsonl
    python scripts/make_label_pairs.py --tasks sst2,mrpc --split test --limit 200 --out pairs/label_test.jsonl

chosen = "The answer is: <gold>", rejected = "The answer is: <wrong>" with the wrong label
drawn by `Task.wrong_label` (a random other label; for scores gold+3+U[-1,1], minus 5 above
5). Departure from RLLR: its label-sensitive pairs carry teacher rationales (same rationale
style, different label); these are rationale-free answers, used until teacher pairs exist.
"""

from __future__ import annotations

import argparse
import random

from rllr.io import write_jsonl
from rllr.tasks.registry import resolve_tasks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="sst2", help="comma-separated task names")
    p.add_argument("--split", default="sft", choices=("train", "sft", "rl", "test"))
    p.add_argument("--limit", type=int, default=None, help="first N examples per task")
    p.add_argument("--data-dir", default=None, help="data folder (default: $RLLR_DATA or bundled samples)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    rng = random.Random(args.seed)
    rows = []
    for task in resolve_tasks(args.tasks):
        for ex in task.load(args.split, args.data_dir, limit=args.limit):
            prompt = task.prompt(ex, "rllr")
            system = next((m["content"] for m in prompt.messages if m["role"] == "system"), None)
            wrong = task.wrong_label(ex, rng)
            rows.append({"prompt": prompt.messages[-1]["content"], "system": system,
                         "chosen": task.target(ex, "rllr"), "rejected": task.target(ex, "rllr", label=wrong),
                         "task": task.name, "kind": "label", "uid": ex.uid})
    n = write_jsonl(args.out, rows)
    print(f"{n} pairs -> {args.out}")


if __name__ == "__main__":
    main()
