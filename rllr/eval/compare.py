"""Paired comparison of two evaluation runs on the same test rows (`rllr compare`).

Two systems evaluated on the same rows are correlated: their separate 95% CIs can overlap
while one is better on nearly every resample. `compare_runs` joins the two runs'
`predictions/<task>.jsonl` on `uid`, re-scores both with the task's metrics against the
gold labels of the test split (so a file from other data is caught, not silently compared)
and reports, per task:

- the primary metric of each run and the paired-bootstrap CI of B - A, with the share of
  resamples where B is not better (`rllr.eval.bootstrap.paired_bootstrap_ci`);
- for one prediction per row of a task with right and wrong answers (not regression): the
  discordant counts (rows only A / only B gets right) and the exact McNemar p-value.

Runs with N sampled predictions per row are scored as `score_predictions` does: the mean of
the metric over the N prediction sets, here on every resample.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rllr.errors import DataError
from rllr.eval.bootstrap import mcnemar_exact_p, paired_bootstrap_ci
from rllr.io import read_jsonl
from rllr.tasks.base import Example, Task

log = logging.getLogger(__name__)


def prediction_files(path: str | Path, task: str | None = None) -> dict[str, Path]:
    """{task: predictions file} of a run: a `<task>.jsonl` file, a `predictions/` folder, or a
    run folder holding `predictions/` (`rllr eval`) or `eval/predictions/` (`rllr sft`, `rllr ppo`).

    A single file is taken for `task` when given (its name need not be the task's).
    """
    path = Path(path)
    if path.is_file():
        return {task or path.stem: path}
    folders = [path] if path.name == "predictions" else [path / "predictions", path / "eval" / "predictions"]
    for folder in folders:
        files = sorted(folder.glob("*.jsonl"))
        if files:
            return {f.stem: f for f in files}
    raise DataError(f"{path}: no predictions/<task>.jsonl (or eval/predictions/) found")


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """Rows of a predictions file keyed by uid; a row without uid / predictions / gold is an error."""
    out: dict[str, dict[str, Any]] = {}
    for lineno, row in enumerate(read_jsonl(path), start=1):
        uid, preds = row.get("uid"), row.get("predictions")
        if not isinstance(uid, str) or not isinstance(preds, list) or not preds or "gold" not in row:
            raise DataError(f"{path}:{lineno}: expected fields 'uid', 'predictions' (a non-empty list) and 'gold'")
        if uid in out:
            raise DataError(f"{path}:{lineno}: uid {uid!r} appears twice")
        out[uid] = row
    return out


def _set_metric(task: Task, metric: str, preds: Sequence[Sequence[Any]],
                examples: Sequence[Example]) -> Any:
    """idx -> mean over prediction sets of `metric` on the rows at idx."""
    n_sets = len(preds[0])

    def fn(idx: Any) -> float:
        exs = [examples[i] for i in idx]
        return sum(task.metrics([preds[i][j] for i in idx], exs)[metric] for j in range(n_sets)) / n_sets

    return fn


def compare_task(task: Task, rows_a: Mapping[str, dict[str, Any]], rows_b: Mapping[str, dict[str, Any]],
                 examples: Mapping[str, Example], *, n_resamples: int = 1000, seed: int = 0,
                 where: str = "") -> dict[str, Any]:
    """The paired comparison of one task (see the module docstring); rows joined on uid."""
    uids = [u for u in rows_a if u in rows_b]
    if not uids:
        raise DataError(f"{task.name}{where}: the two runs share no uid")
    exs = []
    for u in uids:
        ex = examples.get(u)
        if ex is None:
            raise DataError(f"{task.name}{where}: uid {u!r} is not in the test split "
                            f"(pass the --data-dir the runs used)")
        for side, rows in (("A", rows_a), ("B", rows_b)):
            if rows[u]["gold"] != ex.label:
                raise DataError(f"{task.name}{where}: uid {u!r}: run {side} has gold {rows[u]['gold']!r}, "
                                f"the test split has {ex.label!r} (different data?)")
        exs.append(ex)
    preds_a = [rows_a[u]["predictions"] for u in uids]
    preds_b = [rows_b[u]["predictions"] for u in uids]
    for side, preds in (("A", preds_a), ("B", preds_b)):
        if len({len(p) for p in preds}) != 1:
            raise DataError(f"{task.name}{where}: run {side} has a different number of predictions per row")
    metric = task.primary_metric
    fa, fb = _set_metric(task, metric, preds_a, exs), _set_metric(task, metric, preds_b, exs)
    diff, p_boot = paired_bootstrap_ci(fa, fb, len(uids), n_resamples, seed=seed)
    everything = list(range(len(uids)))
    out: dict[str, Any] = {
        "metric": metric, "n": len(uids),
        "only_in_a": sum(u not in rows_b for u in rows_a),
        "only_in_b": sum(u not in rows_a for u in rows_b),
        "a": fa(everything), "b": fb(everything),
        "diff": diff._asdict(), "p_bootstrap": p_boot,
    }
    if len(preds_a[0]) == 1 and len(preds_b[0]) == 1 and task.kind != "regression":
        right_a = [task.is_correct(p[0], ex) for p, ex in zip(preds_a, exs)]
        right_b = [task.is_correct(p[0], ex) for p, ex in zip(preds_b, exs)]
        a_only = sum(a and not b for a, b in zip(right_a, right_b))
        b_only = sum(b and not a for a, b in zip(right_a, right_b))
        out.update(a_only_correct=a_only, b_only_correct=b_only, mcnemar_p=mcnemar_exact_p(a_only, b_only))
    return out


def compare_runs(a: str | Path, b: str | Path, *, tasks: Sequence[str] | None = None,
                 data_dir: str | None = None, n_resamples: int = 1000,
                 seed: int = 0) -> dict[str, dict[str, Any]]:
    """{task: comparison} for the tasks both runs predicted (or `tasks`), B measured against A."""
    from rllr.tasks.registry import get_task

    only = tasks[0] if tasks and len(tasks) == 1 else None
    files_a, files_b = prediction_files(a, only), prediction_files(b, only)
    names = list(tasks) if tasks else [t for t in files_a if t in files_b]
    if not names:
        raise DataError(f"{a} and {b}: no task has predictions in both runs")
    results = {}
    for name in names:
        for run, files in ((a, files_a), (b, files_b)):
            if name not in files:
                raise DataError(f"{run}: no predictions for task {name!r}")
        task = get_task(name)
        examples = {ex.uid: ex for ex in task.load("test", data_dir)}
        results[name] = compare_task(task, read_predictions(files_a[name]), read_predictions(files_b[name]),
                                     examples, n_resamples=n_resamples, seed=seed,
                                     where=f" ({files_a[name]} vs {files_b[name]})")
        r = results[name]
        if r["only_in_a"] or r["only_in_b"]:
            log.warning("%s: %d rows only in A and %d only in B are left out", name, r["only_in_a"], r["only_in_b"])
    return results


def format_comparison(results: Mapping[str, Mapping[str, Any]]) -> str:
    """A markdown table: A, B, B - A [95% CI], bootstrap p, discordant rows, McNemar p."""
    lines = ["| task | metric | n | A | B | B - A [95% CI] | p(B<=A) | only A / only B right | McNemar p |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        d = r["diff"]
        disc = f"{r['a_only_correct']} / {r['b_only_correct']}" if "mcnemar_p" in r else "-"
        mcn = f"{r['mcnemar_p']:.3g}" if "mcnemar_p" in r else "-"
        lines.append(f"| {name} | {r['metric']} | {r['n']} | {r['a']:.3f} | {r['b']:.3f} | "
                     f"{d['point']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] | {r['p_bootstrap']:.3f} | "
                     f"{disc} | {mcn} |")
    return "\n".join(lines)
