"""PNG figures for the reports (matplotlib, Agg backend; imported only inside functions).

- `training_curves`: one 2×2 figure per group of runs from their `metrics.jsonl` files:
  reward per source (`reward/<source>/mean`, plus the mixed `reward/mean`), KL
  (`ppo/approx_kl`, `kl/*`, `objective/kl`), value loss (`loss/value`) and accuracy
  (`eval/<task>/accuracy`, `*accuracy*`). Panels with no data say so.
- `win_tie_lose_chart`: stacked horizontal bars of win / tie / lose shares, as in RLLR
  Figure 4 (rationale quality vs SFT w. rat., judged pairwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rllr.io import read_jsonl

PANELS: tuple[tuple[str, str], ...] = (
    ("reward", r"^reward/(.+/)?mean$"),
    ("KL", r"(^ppo/approx_kl$)|(^kl/)|(^objective/kl)|(/kl$)"),
    ("value loss", r"^loss/value$"),
    ("accuracy", r"accuracy"),
)


def curves(rows: Sequence[Mapping[str, Any]], pattern: str) -> dict[str, tuple[list[float], list[float]]]:
    """key -> (steps, values) for every numeric metric whose key matches `pattern` (pure)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    rx = re.compile(pattern)
    for i, row in enumerate(rows):
        step = row.get("step", i)
        for k, v in row.items():
            if k in ("step", "time") or not rx.search(k):
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                xs, ys = out.setdefault(k, ([], []))
                xs.append(float(step))
                ys.append(float(v))
    return out


def training_curves(metrics_files: Mapping[str, str | Path], out_png: str | Path,
                    title: str = "training curves") -> Path | None:
    """Plot every run (label -> metrics.jsonl) into one 2×2 PNG; None when no file has data."""
    runs = {}
    for label, path in metrics_files.items():
        p = Path(path)
        if p.is_file():
            rows = read_jsonl(p, tolerate_torn_tail=True)
            if rows:
                runs[label] = rows
    if not runs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (name, pattern) in zip(axes.flat, PANELS):
        drawn = 0
        for label, rows in runs.items():
            for key, (xs, ys) in curves(rows, pattern).items():
                ax.plot(xs, ys, label=f"{label}: {key}", linewidth=1.2)
                drawn += 1
        ax.set_title(name)
        ax.set_xlabel("step")
        if drawn:
            ax.legend(fontsize=6, loc="best")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_png)


def win_tie_lose_chart(results: Mapping[str, Mapping[str, int]], out_png: str | Path,
                       title: str = "rationale quality vs SFT w. rat.") -> Path | None:
    """Stacked bars: `results[comparison] = {"win": n, "tie": n, "lose": n}` (RLLR Fig. 4)."""
    if not results:
        return None
    plt = _pyplot()
    names = list(results)
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(names) + 1.4))
    left = [0.0] * len(names)
    colors = {"win": "#4c9a5f", "tie": "#c9c9c9", "lose": "#c0504d"}
    for part in ("win", "tie", "lose"):
        shares = []
        for name in names:
            r = results[name]
            n = sum(int(r.get(k, 0)) for k in ("win", "tie", "lose")) or 1
            shares.append(100.0 * int(r.get(part, 0)) / n)
        bars = ax.barh(names, shares, left=left, color=colors[part], label=part)
        for bar, share in zip(bars, shares):
            if share >= 6:
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2,
                        f"{share:.0f}%", ha="center", va="center", fontsize=8)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of judged examples")
    ax.invert_yaxis()
    ax.legend(ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_title(title, pad=24)
    fig.tight_layout()
    return _save(fig, out_png)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_png: str | Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
