"""Metrics against hand-computed values (arithmetic in the comments) and the papers' tables."""

from __future__ import annotations

import math

import pytest

from rllr.eval.metrics import (
    accuracy,
    compute_metrics,
    em_per_question,
    f1,
    glue_average,
    macro_f1,
    mcc,
    normalize_answer,
    pearson,
    perplexity,
    rllr_average,
    spearman,
    squad_em,
    squad_f1,
    superglue_average,
)
from rllr.tasks.base import Example


def _ex(label: object, group: str | None = None, answers: tuple[str, ...] = ()) -> Example:
    return Example(task="t", uid="u", inputs={}, label=label, answers=answers, group=group)


# --- classification ------------------------------------------------------------------------


def test_accuracy_counts_none_as_wrong() -> None:
    assert accuracy(["a", "b", None, "a"], ["a", "a", "b", "a"]) == 0.5  # 2 of 4
    assert accuracy([], []) == 0.0


def test_binary_f1() -> None:
    # preds 1,1,0,0 vs golds 1,0,1,0: tp=1 fp=1 fn=1 -> 2/(2+1+1) = 0.5
    assert f1([1, 1, 0, 0], [1, 0, 1, 0], positive=1) == 0.5
    # two Nones: gold 1 -> a false negative, gold 0 -> a false positive
    # tp=1 fp=2 fn=2 -> 2/(2+2+2) = 1/3
    assert f1([1, 1, 0, 0, None, None], [1, 0, 1, 0, 1, 0], positive=1) == pytest.approx(1 / 3)
    assert f1([0, 0], [0, 0], positive=1) == 0.0  # no positives anywhere: defined as 0


def test_macro_f1() -> None:
    golds = ["a", "a", "b", "b", "c", "c"]
    preds = ["a", "b", "b", "b", "c", None]
    # a: tp1 fp0 fn1 -> 2/3 ; b: tp2 fp1 fn0 -> 4/5 ; c: tp1 fp0 fn1 -> 2/3
    assert macro_f1(preds, golds, ["a", "b", "c"]) == pytest.approx((2 / 3 + 4 / 5 + 2 / 3) / 3)
    # a label never seen on either side is left out (not averaged in as 0)
    assert macro_f1(preds, golds, ["a", "b", "c", "d"]) == pytest.approx((2 / 3 + 4 / 5 + 2 / 3) / 3)


def test_mcc_binary_by_hand() -> None:
    golds = [1, 1, 1, 0, 0, 0, 0, 1]
    preds = [1, 1, 0, 0, 0, 1, 0, 1]
    # tp=3 tn=3 fp=1 fn=1: (3*3 - 1*1) / sqrt(4*4*4*4) = 8/16 = 0.5
    assert mcc(preds, golds, [0, 1]) == pytest.approx(0.5)
    assert mcc([0, 1], [0, 1], [0, 1]) == 1.0 and mcc([1, 0], [0, 1], [0, 1]) == -1.0
    assert mcc([1, 1, 1], [0, 1, 1], [0, 1]) == 0.0  # constant prediction: undefined -> 0
    # a None is flipped to the wrong class: golds 1,0 with preds None,None -> 0,1: all wrong -> -1
    assert mcc([None, None], [1, 0], [0, 1]) == -1.0


def test_mcc_matches_sklearn_multiclass() -> None:
    sklearn = pytest.importorskip("sklearn.metrics")
    golds = ["a", "b", "c", "a", "b", "c", "a", "a"]
    preds = ["a", "c", "c", "a", "b", "b", "b", "a"]
    assert mcc(preds, golds, ["a", "b", "c"]) == pytest.approx(sklearn.matthews_corrcoef(golds, preds))
    assert f1([1, 0, 1, 1], [1, 1, 0, 1], 1) == pytest.approx(sklearn.f1_score([1, 1, 0, 1], [1, 0, 1, 1]))


# --- regression -----------------------------------------------------------------------------


def test_pearson_by_hand() -> None:
    # x = 1,2,3,4 (mean 2.5), y = 2,4,5,4 (mean 3.75)
    # dx = -1.5,-.5,.5,1.5 ; dy = -1.75,.25,1.25,.25
    # sum dxdy = 2.625-.125+.625+.375 = 3.5 ; sum dx^2 = 5 ; sum dy^2 = 3.0625+.0625+1.5625+.0625 = 4.75
    assert pearson([1, 2, 3, 4], [2, 4, 5, 4]) == pytest.approx(3.5 / math.sqrt(5 * 4.75))
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_by_hand() -> None:
    # ranks 1,2,3,4 vs 1,3,2,4: sum d^2 = 2 -> 1 - 6*2/(4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_correlations_with_none_and_constant_inputs() -> None:
    # None -> mean of the valid predictions (2.0): 1,2,3 vs 1,2,3 -> 1
    assert pearson([1.0, None, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert pearson([None, None], [1.0, 2.0]) == 0.0
    assert pearson([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0
    assert spearman([1.0], [1.0]) == 0.0


# --- QA -------------------------------------------------------------------------------------


def test_squad_normalization_em_f1() -> None:
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("an Apple a day") == "apple day"
    assert squad_em("the Arctic.", ["Arctic"]) == 1.0
    assert squad_em("Arctic Ocean", ["Arctic"]) == 0.0
    assert squad_em(None, ["Arctic"]) == 0.0
    # pred tokens in,arctic,ocean vs arctic: common 1, P=1/3, R=1 -> F1 = 2*(1/3)/(4/3) = 0.5
    assert squad_f1("in the Arctic Ocean", ["Arctic"]) == pytest.approx(0.5)
    # max over gold answers: "Arctic Ocean" matches the second exactly
    assert squad_f1("in the Arctic Ocean", ["Arctic", "the Arctic Ocean"]) == pytest.approx(0.8)
    assert squad_f1("Paris", ["London"]) == 0.0 and squad_f1(None, ["x"]) == 0.0


# --- MultiRC, perplexity ------------------------------------------------------------------------


def test_multirc_em_per_question_and_f1a() -> None:
    golds = ["yes", "no", "yes", "no", "no"]
    preds = ["yes", "no", "yes", "yes", None]
    groups = ["q1", "q1", "q2", "q2", "q3"]
    # q1 all right, q2 one wrong, q3 None -> 1/3
    assert em_per_question(preds, golds, groups) == pytest.approx(1 / 3)
    exs = [_ex(g, q) for g, q in zip(golds, groups)]
    out = compute_metrics(["em_q", "f1a"], preds, exs, labels=["no", "yes"], kind="classification")
    # f1a over options, positive "yes": tp=2 fp=1(q2) +1(None on gold no) fn=0 -> 4/(4+2) = 2/3
    assert out == pytest.approx({"em_q": 1 / 3, "f1a": 2 / 3})


def test_perplexity() -> None:
    assert perplexity(3 * math.log(5.0), 3) == pytest.approx(5.0)  # exp(mean NLL)
    with pytest.raises(ValueError):
        perplexity(1.0, 0)


# --- dispatch -------------------------------------------------------------------------------


def test_compute_metrics_dispatch() -> None:
    exs = [_ex("a", answers=("the Arctic",)), _ex("b", answers=("Paris",))]
    assert compute_metrics(["em", "f1"], ["Arctic", None], exs, labels=[], kind="extractive_qa") == {"em": 0.5, "f1": 0.5}
    assert compute_metrics(["accuracy"], ["a", "a"], exs, labels=["a", "b"], kind="classification") == {"accuracy": 0.5}
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        compute_metrics(["bleu"], ["a", "a"], exs, labels=["a", "b"], kind="classification")
    with pytest.raises(ValueError, match="1 predictions for 2 examples"):
        compute_metrics(["accuracy"], ["a"], exs, labels=["a", "b"], kind="classification")


# --- benchmark averages (the papers' own rows) ----------------------------------------------------


def test_glue_average_reproduces_table1_ppo_st() -> None:
    # second paper, Table 1, PPO-ST: 9 columns (MNLI-m and -mm separate), WNLI/AX excluded
    scores = {"mnli_m": {"accuracy": 88.8}, "mnli_mm": {"accuracy": 88.2}, "qqp": {"f1": 70.5, "accuracy": 0},
              "qnli": {"accuracy": 93.2}, "sst2": {"accuracy": 96.4}, "cola": {"mcc": 59.9},
              "stsb": {"spearman": 92.6, "pearson": 0}, "mrpc": {"f1": 89.4}, "rte": {"accuracy": 84.3},
              "wnli": {"accuracy": 74.7}}
    assert glue_average(scores) == pytest.approx(763.3 / 9)  # 84.81, printed 84.8


def test_superglue_average_reproduces_table6_bert_large() -> None:
    # Table 6, BERT-large: CB (75.7+83.6)/2, MultiRC (70.0+24.0)/2, ReCoRD (72.0+71.3)/2, AX not counted
    scores = {"boolq": {"accuracy": 77.4}, "cb": {"macro_f1": 75.7, "accuracy": 83.6}, "copa": {"accuracy": 70.6},
              "multirc": {"f1a": 70.0, "em_q": 24.0}, "record": {"f1": 72.0, "em": 71.3},
              "superglue_rte": {"accuracy": 71.6}, "wic": {"accuracy": 69.5}, "wsc": {"accuracy": 64.3}}
    expected = (77.4 + 79.65 + 70.6 + 47.0 + 71.65 + 71.6 + 69.5 + 64.3) / 8  # 68.96, printed 69.0
    assert superglue_average(scores) == pytest.approx(expected)


def test_rllr_average_reproduces_table4_llama2_sft() -> None:
    # RLLR Table 4, LLaMA2 7B SFT: 9 columns (MNLI m/mm separate) -> 774.27 / 9 = 86.03
    acc = {"mr": 91.00, "ag_news": 92.20, "app_reviews": 69.40, "mrpc": 82.11, "qqp": 85.50,
           "mnli_m": 83.50, "mnli_mm": 85.10, "sst2": 96.22}
    scores = {t: {"accuracy": v} for t, v in acc.items()} | {"stsb": {"pearson": 89.24}}
    assert round(rllr_average(scores), 2) == 86.03
    with pytest.raises(ValueError, match="no benchmark task"):
        rllr_average({"cola": {"mcc": 1.0}})
