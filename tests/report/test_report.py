"""Report tables (CIs printed, AVG arithmetic), plots, and a self-contained HTML."""

from __future__ import annotations

import base64
import json
import math

from rllr.report.plots import curves, training_curves, win_tie_lose_chart
from rllr.report.render import Report, add_provenance, markdown_to_html, write_report
from rllr.report.tables import (
    Cell,
    as_cell,
    average_cell,
    format_cell,
    methods_table,
    transfer_table,
    value_table,
    win_tie_lose_table,
)

METHODS = ["SFT", "SFT w. rat.", "RLHF", "RLLR", "RLLR-MIXED"]
TABLE4 = {
    m: {"sst2": {"point": 0.80 + 0.01 * i, "low": 0.75 + 0.01 * i, "high": 0.85 + 0.01 * i},
        "mnli": (0.50 + 0.02 * i, 0.45 + 0.02 * i, 0.55 + 0.02 * i)}
    for i, m in enumerate(METHODS)
}


def test_as_cell_shapes():
    assert as_cell(0.5) == Cell(0.5)
    assert as_cell([0.5, 0.4, 0.6]) == Cell(0.5, 0.4, 0.6)
    assert as_cell({"accuracy": 0.5, "ci": [0.4, 0.6]}) == Cell(0.5, 0.4, 0.6)
    assert as_cell({"value": 0.5, "lo": 0.4, "hi": 0.6}) == Cell(0.5, 0.4, 0.6)
    assert as_cell(None) is None and as_cell("x") is None and as_cell({"n": "a"}) is None


def test_format_cell():
    assert format_cell(Cell(0.912, 0.89, 0.93)) == "91.2 [89.0, 93.0]"
    assert format_cell(Cell(12.345), scale=1.0, digits=2) == "12.35"
    assert format_cell(None) == "–"


def test_average_cell_normal_approximation():
    # two tasks, half-widths 0.05 and 0.05 -> se_i = 0.05/1.96; se_avg = sqrt(2)*se_i/2
    avg = average_cell([Cell(0.8, 0.75, 0.85), Cell(0.6, 0.55, 0.65)])
    assert math.isclose(avg.point, 0.7)
    assert math.isclose(avg.high - avg.point, 0.05 * math.sqrt(2) / 2)
    assert average_cell([Cell(0.8), Cell(0.6, 0.5, 0.7)]).low is None


def test_average_cell_keeps_skewed_intervals_inside_the_range():
    # a perfect task with bootstrap CI [0.4, 1.0] and a symmetric one: mean 0.75,
    # low = 0.75 - sqrt(0.6^2 + 0.2^2) / 2 = 0.43377, high = 0.75 + sqrt(0 + 0.2^2) / 2 = 0.85
    avg = average_cell([Cell(1.0, 0.4, 1.0), Cell(0.5, 0.3, 0.7)])
    assert math.isclose(avg.low, 0.75 - math.sqrt(0.4) / 2) and math.isclose(avg.high, 0.85)
    both_perfect = average_cell([Cell(1.0, 0.4, 1.0), Cell(1.0, 0.625, 1.0)])
    assert both_perfect.high == 1.0  # the symmetric formula gave 1.0 + 0.176 (Table 5's "101.4")


def test_methods_table_layout_and_cis():
    md = methods_table(TABLE4, ["sst2", "mnli"])
    lines = md.splitlines()
    assert lines[0] == "| method | sst2 | mnli | AVG |"
    assert len(lines) == 2 + len(METHODS)
    for m in METHODS:
        assert any(line.startswith((f"| {m} |", f"| {m} | **")) for line in lines)
    assert "80.0 [75.0, 85.0]" in md  # SFT sst2
    assert "**84.0 [79.0, 89.0]**" in md  # best sst2 is bold (RLLR-MIXED)
    # AVG of SFT: (80 + 50) / 2 = 65.0, with an interval
    sft = next(line for line in lines if line.startswith("| SFT |"))
    assert "65.0 [" in sft


def test_methods_table_missing_cell_gives_no_avg():
    md = methods_table({"a": {"x": 0.5}, "b": {"x": 0.6, "y": 0.7}}, ["x", "y"], bold_best=False)
    assert "| a | 50.0 | – | – |" in md


def test_transfer_value_wtl_tables():
    md = transfer_table({"sst2": {"emotion": {"zero-shot": [0.3, 0.28, 0.32], "PPO": 0.4}}})
    assert "| sst2 → emotion | 30.0 [28.0, 32.0] | 40.0 |" in md
    md = value_table({"before": {"perplexity": 15.04}, "after PPO": {"perplexity": 15.9}})
    assert "| before | 15.04 |" in md
    md = win_tie_lose_table({"RLLR vs SFT w. rat.": {"win": 6, "tie": 2, "lose": 2}})
    assert "6 (60%)" in md and "2 (20%)" in md


def _metrics(path, n=5):
    with open(path, "w") as f:
        f.writelines(json.dumps({"step": s, "reward/label/mean": s * 0.1, "reward/rationale/mean": 0.2,
                                "ppo/approx_kl": 0.01 * s, "loss/value": 1.0 / (s + 1)}) + "\n" for s in range(n))


def test_curves_pure():
    rows = [{"step": 0, "reward/label/mean": 1.0, "x": 2}, {"step": 1, "reward/label/mean": 2.0}]
    assert curves(rows, r"^reward/") == {"reward/label/mean": ([0.0, 1.0], [1.0, 2.0])}


def test_report_html_self_contained(tmp_path):
    _metrics(tmp_path / "m.jsonl")
    png = training_curves({"RLLR-MIXED": tmp_path / "m.jsonl"}, tmp_path / "plots" / "curves.png")
    bar = win_tie_lose_chart({"RLLR vs SFT w. rat.": {"win": 5, "tie": 3, "lose": 2}},
                             tmp_path / "plots" / "wtl.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and bar.is_file()
    assert training_curves({"none": tmp_path / "missing.jsonl"}, tmp_path / "x.png") is None

    rep = Report("RLLR reproduction")
    rep.heading("Table 4")
    rep.text(methods_table(TABLE4, ["sst2", "mnli"]))
    rep.image(png, "training curves")
    rep.image(bar, "win/tie/lose")
    add_provenance(rep, model="smollm2-135m-instruct", seeds={"run": 0},
                   data_sizes={"sst2": {"sft": 64, "test": 32}},
                   stage_times={"sft": (12.5, False), "data": (0.1, True)},
                   configs={"run": {"model": "smollm2-135m-instruct"}})
    md_path, html_path = write_report(rep, tmp_path)
    md = md_path.read_text()
    assert "80.0 [75.0, 85.0]" in md and "](plots/curves.png)" in md
    assert "smollm2-135m-instruct" in md and "12.5" in md and "cached" in md
    page = html_path.read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "plots/curves.png" not in page  # no external file references
    assert "<table>" in page and "80.0 [75.0, 85.0]" in page
    b64 = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(b64)[:4] == b"\x89PNG"


def test_markdown_to_html_subset():
    out = markdown_to_html("## T\n\n- a **b**\n- `c`\n\n| x | y |\n| --- | ---: |\n| 1 | 2 |\n\npara\nline")
    assert "<h2>T</h2>" in out and "<li>a <b>b</b></li>" in out and "<code>c</code>" in out
    assert "<td>1</td><td>2</td>" in out and "<p>para line</p>" in out
    assert "<script>" not in markdown_to_html("<script>x</script>")
