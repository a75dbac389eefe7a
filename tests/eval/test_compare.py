"""Paired comparison of two runs: hand-checked bootstrap / McNemar numbers and the run joiner."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rllr.cli import main
from rllr.errors import DataError
from rllr.eval.bootstrap import CI, mcnemar_exact_p, paired_bootstrap_ci
from rllr.eval.compare import compare_runs, prediction_files
from rllr.tasks.registry import get_task


def _mean_of(values):
    arr = np.asarray(values, dtype=float)
    return lambda idx: float(arr[idx].mean())


def test_paired_bootstrap_of_identical_systems_is_zero():
    right = [1, 0, 1, 1, 0]
    ci, p = paired_bootstrap_ci(_mean_of(right), _mean_of(right), 5, n_resamples=200)
    assert ci == CI(0.0, 0.0, 0.0)
    assert p == 1.0  # B is never better than itself


def test_paired_bootstrap_when_b_wins_every_row():
    ci, p = paired_bootstrap_ci(_mean_of([0, 0, 0, 0]), _mean_of([1, 1, 1, 1]), 4, n_resamples=200)
    assert ci == CI(1.0, 1.0, 1.0)
    assert p == 0.0


def test_paired_bootstrap_ignores_what_both_get_right():
    # 96 rows both systems share + 4 rows only B gets right: every resample has B >= A, and
    # the point is 4/100. Unpaired CIs of 0.60 vs 0.64 on 100 rows would overlap widely.
    a = [1] * 60 + [0] * 40
    b = [1] * 60 + [1] * 4 + [0] * 36
    ci, p = paired_bootstrap_ci(_mean_of(a), _mean_of(b), 100, n_resamples=500, seed=1)
    assert ci.point == pytest.approx(0.04)
    assert ci.low >= 0.0 and ci.high <= 0.10
    assert p <= 0.05


@pytest.mark.parametrize(("a_only", "b_only", "p"), [
    (0, 0, 1.0),
    (3, 3, 1.0),
    (0, 6, 2 / 64),             # 2 * P(X <= 0), X ~ Bin(6, 1/2)
    (1, 5, 2 * 7 / 64),         # 2 * (1 + 6) / 64
    (10, 2, 2 * 79 / 4096),     # 2 * (1 + 12 + 66) / 4096, symmetric in A and B
])
def test_mcnemar_exact_p_by_hand(a_only, b_only, p):
    assert mcnemar_exact_p(a_only, b_only) == pytest.approx(p)


def test_mcnemar_exact_p_does_not_overflow_on_big_samples():
    assert 0.0 < mcnemar_exact_p(500, 700) < 1e-6
    assert mcnemar_exact_p(1000, 1000) == pytest.approx(1.0, abs=1e-9)


# --- the run joiner on the bundled SST-2 test rows ---------------------------------------


def _write_preds(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _rows(preds):
    examples = get_task("sst2").load("test", limit=len(preds))
    return [{"uid": ex.uid, "predictions": [p], "gold": ex.label} for ex, p in zip(examples, preds)]


@pytest.fixture
def golds():
    return [ex.label for ex in get_task("sst2").load("test", limit=8)]


def _flip(label):
    return {"positive": "negative", "negative": "positive"}[label]


def test_compare_runs_counts_discordant_rows(tmp_path, golds):
    # A: right on rows 0-3, wrong on 4-7 (row 7 unparsed). B: right on 0-2 and 4-7.
    a = golds[:4] + [_flip(g) for g in golds[4:7]] + [None]
    b = golds[:3] + [_flip(golds[3])] + golds[4:]
    _write_preds(tmp_path / "a" / "predictions" / "sst2.jsonl", _rows(a))
    _write_preds(tmp_path / "b" / "eval" / "predictions" / "sst2.jsonl", _rows(b))
    res = compare_runs(tmp_path / "a", tmp_path / "b", n_resamples=200)["sst2"]
    assert (res["metric"], res["n"]) == ("accuracy", 8)
    assert res["a"] == pytest.approx(4 / 8) and res["b"] == pytest.approx(7 / 8)
    assert res["diff"]["point"] == pytest.approx(3 / 8)
    assert (res["a_only_correct"], res["b_only_correct"]) == (1, 4)
    assert res["mcnemar_p"] == pytest.approx(2 * 6 / 32)  # 2 * (1 + 5) / 2**5
    assert res["diff"]["low"] <= 3 / 8 <= res["diff"]["high"]


def test_compare_runs_joins_on_uid_and_reports_unmatched_rows(tmp_path, golds):
    rows_a = _rows(golds)
    rows_b = list(reversed(_rows(golds)[2:]))  # other order, two rows fewer
    _write_preds(tmp_path / "a.jsonl", rows_a)
    _write_preds(tmp_path / "b" / "sst2.jsonl", rows_b)
    res = compare_runs(tmp_path / "a.jsonl", tmp_path / "b" / "sst2.jsonl", tasks=["sst2"],
                       n_resamples=50)
    # a.jsonl's stem is not a task name: with one task named, a single file is that task's
    assert res["sst2"]["n"] == 6 and res["sst2"]["only_in_a"] == 2 and res["sst2"]["only_in_b"] == 0


def test_sampled_runs_are_scored_per_prediction_set(tmp_path, golds):
    # two sets per row: set 0 all right, set 1 all wrong -> mean accuracy 0.5, no McNemar
    rows = [{"uid": r["uid"], "predictions": [g, _flip(g)], "gold": g} for r, g in zip(_rows(golds), golds)]
    _write_preds(tmp_path / "a" / "predictions" / "sst2.jsonl", _rows(golds))
    _write_preds(tmp_path / "b" / "predictions" / "sst2.jsonl", rows)
    res = compare_runs(tmp_path / "a", tmp_path / "b", n_resamples=50)["sst2"]
    assert res["b"] == pytest.approx(0.5) and res["diff"]["point"] == pytest.approx(-0.5)
    assert "mcnemar_p" not in res


def test_gold_that_disagrees_with_the_test_split_is_an_error(tmp_path, golds):
    rows = _rows(golds)
    rows[2]["gold"] = _flip(rows[2]["gold"])
    _write_preds(tmp_path / "a" / "predictions" / "sst2.jsonl", _rows(golds))
    _write_preds(tmp_path / "b" / "predictions" / "sst2.jsonl", rows)
    with pytest.raises(DataError, match=r"sst2/test/3.*run B has gold.*different data"):
        compare_runs(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize(("row", "msg"), [
    ({"uid": "sst2/test/1", "gold": "positive"}, r"b\.jsonl:1: expected fields"),
    ({"uid": "sst2/test/1", "predictions": [], "gold": "positive"}, r"b\.jsonl:1: expected fields"),
])
def test_malformed_prediction_rows_name_file_and_line(tmp_path, golds, row, msg):
    _write_preds(tmp_path / "a.jsonl", _rows(golds))
    _write_preds(tmp_path / "b.jsonl", [row])
    with pytest.raises(DataError, match=msg):
        compare_runs(tmp_path / "a.jsonl", tmp_path / "b.jsonl", tasks=["sst2"])


def test_runs_without_shared_rows_or_predictions_are_errors(tmp_path, golds):
    _write_preds(tmp_path / "a" / "predictions" / "sst2.jsonl", _rows(golds)[:4])
    _write_preds(tmp_path / "b" / "predictions" / "sst2.jsonl", _rows(golds)[4:])
    with pytest.raises(DataError, match="share no uid"):
        compare_runs(tmp_path / "a", tmp_path / "b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no predictions/<task>\.jsonl"):
        prediction_files(tmp_path / "empty")
    _write_preds(tmp_path / "c" / "predictions" / "mnli.jsonl", [])
    with pytest.raises(DataError, match="no task has predictions in both runs"):
        compare_runs(tmp_path / "a", tmp_path / "c")


def test_cli_prints_the_table_and_writes_json(tmp_path, golds, capsys):
    _write_preds(tmp_path / "a" / "predictions" / "sst2.jsonl", _rows([_flip(g) for g in golds]))
    _write_preds(tmp_path / "b" / "predictions" / "sst2.jsonl", _rows(golds))
    out = tmp_path / "cmp.json"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--n-resamples", "100",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| sst2 | accuracy | 8 | 0.000 | 1.000 | +1.000 [+1.000, +1.000] | 0.000 | 0 / 8 |" in text
    saved = json.loads(out.read_text())
    assert saved["tasks"]["sst2"]["mcnemar_p"] == pytest.approx(2 / 256)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "nowhere")]) == 2


def test_regression_tasks_compare_their_correlation_without_mcnemar(tmp_path):
    examples = get_task("stsb").load("test", limit=12)
    golds = [float(ex.label) for ex in examples]
    noisy = [g + (1.5 if i % 2 else -1.5) for i, g in enumerate(golds)]
    _write_preds(tmp_path / "a" / "predictions" / "stsb.jsonl",
                 [{"uid": ex.uid, "predictions": [p], "gold": ex.label} for ex, p in zip(examples, noisy)])
    _write_preds(tmp_path / "b" / "predictions" / "stsb.jsonl",
                 [{"uid": ex.uid, "predictions": [g], "gold": ex.label} for ex, g in zip(examples, golds)])
    res = compare_runs(tmp_path / "a", tmp_path / "b", n_resamples=100)["stsb"]
    assert res["metric"] == "pearson" and res["b"] == pytest.approx(1.0)
    assert res["diff"]["point"] == pytest.approx(1.0 - float(np.corrcoef(noisy, golds)[0, 1]))
    assert "mcnemar_p" not in res
