"""`rllr compare A B`: is run B better than run A on the same test rows?

    rllr compare runs/eval-zero-shot runs/sft-1
    rllr compare runs/sft-label/eval/predictions/sst2.jsonl runs/sft-rationale --out cmp.json

A and B are run folders (`rllr eval`, `rllr sft`, `rllr ppo`), `predictions/` folders or
single `<task>.jsonl` files. Rows are joined on uid and re-scored against the test split
(`--data-dir` if the runs used one). Prints, per task, both metrics, the paired-bootstrap 95%
CI of B - A and, for one prediction per row, McNemar's exact test
(`rllr.eval.compare`); `--out` also writes them as JSON.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="baseline run (folder, predictions/ folder or <task>.jsonl)")
    parser.add_argument("b", help="the run measured against it")
    parser.add_argument("--tasks", help="comma-separated tasks (default: every task both runs predicted)")
    parser.add_argument("--data-dir", dest="data_dir", help="data root the runs used (default: bundled samples)")
    parser.add_argument("--n-resamples", dest="n_resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the comparison as JSON here")


def run(args: argparse.Namespace) -> int:
    from rllr.eval.compare import compare_runs, format_comparison
    from rllr.io import atomic_write_json

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    results = compare_runs(args.a, args.b, tasks=tasks, data_dir=args.data_dir,
                           n_resamples=args.n_resamples, seed=args.seed)
    print(f"A = {args.a}\nB = {args.b}\n")
    print(format_comparison(results))
    if args.out:
        atomic_write_json(args.out, {"a": str(args.a), "b": str(args.b), "tasks": results})
        print(args.out)
    return 0
