"""Refusal filter: rules, label features, the shipped model and its held-out numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rllr.data.refusal import DEFAULT_MODEL, DEFAULT_SET, RefusalFilter, label_features, rule_reason
from rllr.io import read_jsonl


@pytest.mark.parametrize("text, reason", [
    ("", "empty answer"), ("   \n", "empty answer"),
    ("I'm sorry, but I can't do that.", "refusal (rule)"),
    ("I\u2019m sorry, but no.", "refusal (rule)"),
    ("As an AI language model, I cannot", "refusal (rule)"),
    ("The review is clearly positive.", None),
])
def test_rule_reason(text, reason):
    assert rule_reason(text) == reason


def test_label_features_whole_words():
    labels = ["entailment", "neutral", "contradiction"]
    assert label_features("This is an entailment.", "entailment", labels) == [1.0, 0.0]
    assert label_features("It is neutral, not entailment", "entailment", labels) == [1.0, 1.0]
    # "not_entailment" contains "entailment": not counted as another label
    assert label_features("clearly not entailment", "not_entailment", ["entailment", "not_entailment"])[0] == 1.0
    assert label_features("so negative", "positive", ["negative", "positive"]) == [0.0, 1.0]


def test_filter_probs_and_threshold(tmp_path):
    flt = RefusalFilter(np.array([2.0, -1.0], np.float32), bias=0.0, threshold=0.5)
    p = flt.probs(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    assert p[0] == pytest.approx(1 / (1 + np.exp(-2))) and p[1] < 0.5
    flt.save(tmp_path / "m.json")
    again = RefusalFilter.load(tmp_path / "m.json", threshold=0.9)
    assert again.threshold == 0.9 and np.allclose(again.weights, flt.weights)


def test_shipped_set_and_model():
    rows = read_jsonl(DEFAULT_SET)
    assert len(rows) >= 100 and {r["refusal"] for r in rows} == {0, 1}
    sources = {r["source"] for r in rows}
    assert {"model_gold", "model_refusal", "template"} <= sources
    meta = json.loads(DEFAULT_MODEL.read_text())
    assert len(meta["weights"]) == 386
    m = meta["metrics"]
    assert m["heldout_precision"] >= 0.8 and m["heldout_recall"] >= 0.8


@pytest.mark.slow
def test_shipped_model_flags_refusal_keeps_rationale():
    from rllr.models.fetch import is_cached

    if not is_cached("minilm-l6"):
        pytest.skip("minilm-l6 not cached")
    flt = RefusalFilter.load()
    texts = ["Unfortunately, it would not be appropriate for me to defend the label positive.",
             "The review praises the acting and the story, so the sentiment is positive."]
    reasons = flt.reasons(texts, ["positive", "positive"], ["negative", "positive"])
    assert reasons[0] is not None and reasons[1] is None
