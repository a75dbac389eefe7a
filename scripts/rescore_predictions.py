"""Re-parse saved `rllr eval` predictions with the current parser and recompute metrics + CIs.

    python scripts/rescore_predictions.py runs/eval-x/predictions/sst2.jsonl [--format rllr]

Useful after a parser change: no model is loaded. Prints accuracy (or the task's primary
metric) with its 95% example-resampling bootstrap CI and the format-error rate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rllr.eval.bootstrap import bootstrap_ci
from rllr.io import read_jsonl
from rllr.tasks.registry import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--format", default="rllr", choices=("rllr", "judgement"))
    args = parser.parse_args()
    for path in args.files:
        task = get_task(path.stem)
        rows = read_jsonl(path)
        golds = {ex.uid: ex for ex in task.load("test", limit=None)}
        examples = [golds[r["uid"]] for r in rows]
        preds = [task.parse(r["completions"][0], args.format) for r in rows]
        correct = [float(task.is_correct(p, ex)) for p, ex in zip(preds, examples)]
        ci = bootstrap_ci(correct, n_resamples=1000, seed=0)
        errors = sum(p is None for p in preds) / len(preds)
        print(f"{task.name}: n={len(rows)} accuracy={ci.point:.3f} [{ci.low:.3f}, {ci.high:.3f}] "
              f"format_errors={errors:.3f}")


if __name__ == "__main__":
    main()
