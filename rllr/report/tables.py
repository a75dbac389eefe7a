"""Markdown tables from result dicts (pure: no files, no plotting).

A result *cell* is a point estimate with an optional confidence interval, given as any of

    0.91                                  # point only
    (0.91, 0.89, 0.93)  /  [0.91, 0.89, 0.93]
    {"point": 0.91, "low": 0.89, "high": 0.93}   # also value/mean/accuracy, lo/hi, ci=[lo, hi]

and printed as ``"91.0 [89.0, 93.0]"`` (scaled by `scale`, 100 for accuracies).

Layouts:
- `methods_table`: rows × columns with an AVG column: RLLR Table 4 (methods × tasks),
  RLLR Table 5/9 (reward models × tasks), GLUE-paper Table 1 and 9 (methods × tasks).
  The AVG interval is a normal approximation that treats tasks as independent, taken on
  each side of the point so that skewed bootstrap intervals stay skewed:
  low_avg = mean - sqrt(sum (point_i - low_i)^2) / k, high_avg = mean + sqrt(sum (high_i -
  point_i)^2) / k (= 1.96 * se_avg with se_i = side_i / 1.96). It never leaves the range of
  the per-task bounds (a symmetric interval put 100% accuracy's AVG above 100). That is our
  choice; the papers print no interval for the average.
- `transfer_table`: GLUE-paper Tables 2/3 (source -> target rows, methods as columns).
- `value_table`: plain numbers (perplexity, Table 5; runtime and memory per step).
- `win_tie_lose_table`: RLLR Figure 4 as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

Z95 = 1.959963984540054


class Cell(NamedTuple):
    point: float
    low: float | None = None
    high: float | None = None


def as_cell(value: Any) -> Cell | None:
    """Normalise one result value to a `Cell`; None when missing or not a number."""
    if value is None:
        return None
    if isinstance(value, Cell):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Cell(float(value))
    if isinstance(value, (list, tuple)) and len(value) == 3:
        return Cell(*(float(v) for v in value))
    if isinstance(value, Mapping):
        point = _first(value, ("point", "value", "mean", "accuracy", "acc"))
        if point is None:
            return None
        low, high = _first(value, ("low", "lo", "ci_low")), _first(value, ("high", "hi", "ci_high"))
        ci = value.get("ci")
        if (low is None or high is None) and isinstance(ci, (list, tuple)) and len(ci) == 2:
            low, high = float(ci[0]), float(ci[1])
        return Cell(point, low, high)
    return None


def format_cell(cell: Cell | None, scale: float = 100.0, digits: int = 1) -> str:
    """``"91.0 [89.0, 93.0]"``; ``"91.0"`` without an interval; ``"–"`` when missing."""
    if cell is None or cell.point is None or math.isnan(cell.point):
        return "–"
    text = f"{cell.point * scale:.{digits}f}"
    if cell.low is not None and cell.high is not None:
        text += f" [{cell.low * scale:.{digits}f}, {cell.high * scale:.{digits}f}]"
    return text


def average_cell(cells: Sequence[Cell]) -> Cell | None:
    """Mean of the points, with the independent-tasks normal-approximation interval per side."""
    if not cells:
        return None
    k, mean = len(cells), sum(c.point for c in cells) / len(cells)
    if any(c.low is None or c.high is None for c in cells):
        return Cell(mean)
    below = math.sqrt(sum((c.point - c.low) ** 2 for c in cells)) / k  # type: ignore[operator]
    above = math.sqrt(sum((c.high - c.point) ** 2 for c in cells)) / k  # type: ignore[operator]
    return Cell(mean, mean - below, mean + above)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; `align` items are 'l' or 'r'."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def methods_table(results: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None = None,
                  *, row_header: str = "method", avg: bool = True, scale: float = 100.0,
                  digits: int = 1, bold_best: bool = True, higher_is_better: bool = True) -> str:
    """Rows (methods, reward models) × columns (tasks) [+ AVG], every cell "acc [lo, hi]"."""
    columns = list(columns) if columns is not None else _columns(results)
    grid = {r: {c: as_cell(v.get(c)) for c in columns} for r, v in results.items()}
    if avg:
        for r, row in grid.items():
            present = [c for c in row.values() if c is not None]
            row["AVG"] = average_cell(present) if len(present) == len(columns) else None
    cols = columns + (["AVG"] if avg else [])
    best = {c: _best([grid[r][c] for r in grid], higher_is_better) for c in cols} if bold_best else {}
    rows = []
    for r in grid:
        cells = []
        for c in cols:
            text = format_cell(grid[r][c], scale, digits)
            cell = grid[r][c]
            if bold_best and cell is not None and len(grid) > 1 and cell.point == best.get(c):
                text = f"**{text}**"
            cells.append(text)
        rows.append([r, *cells])
    return markdown_table([row_header, *cols], rows)


def transfer_table(results: Mapping[str, Mapping[str, Mapping[str, Any]]],
                   methods: Sequence[str] | None = None, *, scale: float = 100.0,
                   digits: int = 1) -> str:
    """`results[source][target][method]` -> rows "source → target", columns methods."""
    if methods is None:
        methods = _columns({f"{s}/{t}": m for s, ts in results.items() for t, m in ts.items()})
    rows = [[f"{src} → {tgt}", *(format_cell(as_cell(cells.get(m)), scale, digits) for m in methods)]
            for src, targets in results.items() for tgt, cells in targets.items()]
    return markdown_table(["source → target", *methods], rows)


def value_table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str] | None = None,
                *, row_header: str = "", digits: int = 2) -> str:
    """Plain numbers (or cells with intervals) without scaling: perplexity, s/step, MiB."""
    columns = list(columns) if columns is not None else _columns(rows)
    body = []
    for name, vals in rows.items():
        body.append([name, *(format_cell(as_cell(vals.get(c)), 1.0, digits) if not isinstance(
            vals.get(c), str) else vals[c] for c in columns)])
    return markdown_table([row_header, *columns], body)


def win_tie_lose_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """`results[comparison] = {"win": n, "tie": n, "lose": n}` -> counts and percentages; the
    optional `invalid` (count) and `inconsistent_rate` (share of pairs whose two judge orders
    disagree) get columns when any comparison has them."""
    extra = [k for k in ("invalid", "inconsistent_rate") if any(k in r for r in results.values())]
    rows = []
    for name, r in results.items():
        n = sum(int(r.get(k, 0)) for k in ("win", "tie", "lose")) or 1
        row = [name, *(f"{int(r.get(k, 0))} ({100 * int(r.get(k, 0)) / n:.0f}%)"
                       for k in ("win", "tie", "lose"))]
        if "invalid" in extra:
            row.append(str(int(r.get("invalid", 0))))
        if "inconsistent_rate" in extra:
            row.append(f"{100 * float(r.get('inconsistent_rate', 0.0)):.0f}%")
        rows.append(row)
    names = {"invalid": "invalid", "inconsistent_rate": "order-inconsistent"}
    return markdown_table(["comparison", "win", "tie", "lose", *(names[k] for k in extra)], rows)


def _first(d: Mapping[str, Any], names: Sequence[str]) -> float | None:
    for n in names:
        v = d.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _columns(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in results.values():
        for c in row:
            seen.setdefault(c, None)
    return list(seen)


def _best(cells: Sequence[Cell | None], higher: bool) -> float | None:
    points = [c.point for c in cells if c is not None]
    if not points:
        return None
    return max(points) if higher else min(points)
