"""`rllr tasks`: the registered tasks as a table, with the sizes of their data splits.

    rllr tasks                         # every task, sizes of the bundled samples
    rllr tasks rllr                    # one group (or a comma list of tasks / groups / .yaml files)
    rllr tasks --data-dir ../shared/data

Sizes are row counts: sft / rl (the train file cut at `sft_rows`) and test; "-" = no file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rllr.data.records import find_split_file, resolve_data_dir, sft_rows
from rllr.errors import DataError
from rllr.tasks.base import Task
from rllr.tasks.registry import groups_of, resolve_tasks


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", nargs="?", default="all",
                        help="tasks, groups (rllr, glue, superglue, ood, qa, lm, all) or .yaml files")
    parser.add_argument("--data-dir", default=None,
                        help="data folder to count rows in (default: $RLLR_DATA or the bundled samples)")


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def split_sizes(task: Task, data_dir: str | Path | None) -> tuple[str, str, str]:
    """(sft, rl, test) row counts as strings; "-" where the file is missing."""
    folder = task.data_folder(data_dir)
    try:
        train = find_split_file(folder, "train")
        n = _count_lines(train) if train.suffix == ".jsonl" else len(train.read_text().splitlines()) - 1
        cut = min(sft_rows(folder, n, task.spec.sft_rows), n)
        sft, rl = str(cut), str(n - cut)
    except DataError:
        sft = rl = "-"
    try:
        test = find_split_file(folder, "test")
        n_test = _count_lines(test) if test.suffix == ".jsonl" else len(test.read_text().splitlines()) - 1
        test_size = str(n_test)
    except DataError:
        test_size = "-"
    return sft, rl, test_size


def run(args: argparse.Namespace) -> int:
    rows = [("NAME", "GROUPS", "KIND", "LABELS", "METRICS", "SFT", "RL", "TEST")]
    for task in resolve_tasks(args.tasks):
        labels = "/".join(task.labels) if task.labels else {
            "regression": "float {:g}-{:g}".format(*task.spec.value_range),
        }.get(task.kind, "text")
        groups = ",".join(groups_of(task.name)) or task.spec.group
        rows.append((task.name, groups, task.kind, labels, ",".join(task.metric_names),
                     *split_sizes(task, args.data_dir)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"\ndata: {resolve_data_dir(args.data_dir)}")
    return 0
