"""Refusal filter: rules, label features, the shipped model and its held-out numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rllr.data.refusal import (
    DEFAULT_MODEL,
    DEFAULT_SET,
    N_LABEL_FEATURES,
    RefusalFilter,
    label_features,
    rule_reason,
)
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
    assert label_features("This is an entailment.", "entailment", labels) == [1.0, 0.0, 0.0, 0.0]
    assert label_features("It is neutral, not entailment", "entailment", labels) == [1.0, 1.0, 0.0, 0.0]
    # first sentence (where the verdict usually is), then the rest
    assert label_features("It entails it. Not neutral.", "entailment", labels) == [1.0, 0.0, 0.0, 0.0]
    assert label_features("Hmm. It is neutral.", "entailment", labels) == [0.0, 0.0, 0.0, 1.0]
    # "not_entailment" contains "entailment": not counted as another label
    assert label_features("clearly not entailment", "not_entailment", ["entailment", "not_entailment"])[0] == 1.0
    assert label_features("so negative", "positive", ["negative", "positive"]) == [0.0, 1.0, 0.0, 0.0]


def test_filter_probs_and_threshold(tmp_path):
    flt = RefusalFilter(np.array([2.0, -1.0], np.float32), bias=0.0, threshold=0.5)
    p = flt.probs(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    assert p[0] == pytest.approx(1 / (1 + np.exp(-2))) and p[1] < 0.5
    flt.save(tmp_path / "m.json")
    again = RefusalFilter.load(tmp_path / "m.json", threshold=0.9)
    assert again.threshold == 0.9 and np.allclose(again.weights, flt.weights)


REAL_NEG = {"model_gold", "model_wrong_ok", "model_no_label"}
REAL_POS = {"model_argues_other", "model_cross", "model_refusal"}


def test_names_label_cues():
    from rllr.data.refusal import names_label

    assert names_label("The premise entails the hypothesis.", "entailment")
    assert names_label("Yes, they are duplicates.", "yes") and not names_label("There is no doubt.", "no")
    assert names_label("They are not duplicates.", "no")
    assert names_label("A story about new technology.", "Science and technology")


def test_shipped_set():
    rows = read_jsonl(DEFAULT_SET)
    assert len(rows) >= 250
    real = [r for r in rows if r["source"].startswith("model_")]
    assert {r["refusal"] for r in real} == {0, 1}
    assert sum(r["source"] in REAL_NEG for r in rows) >= 100  # real good rationales
    assert sum(r["source"] in REAL_POS for r in rows) >= 50  # real failures
    assert all(r["refusal"] == (r["source"] not in REAL_NEG) for r in rows)
    assert len({r["task"] for r in real}) >= 4
    assert any(r["source"] == "model_wrong_ok" for r in rows)  # wrong-label rationales kept as good
    pos = sum(r["refusal"] for r in rows)
    assert 0.3 <= pos / len(rows) <= 0.7  # balanced-ish
    # split by source example: no group on both sides
    split = {}
    for r in rows:
        assert split.setdefault(r["group"], r["split"]) == r["split"]
    assert {"train", "heldout"} == set(split.values())


def test_shipped_model_meta():
    meta = json.loads(DEFAULT_MODEL.read_text())
    assert len(meta["weights"]) == 384 + N_LABEL_FEATURES and 0 < meta["threshold"] < 1
    m = meta["metrics"]
    assert m["rows"] == len(read_jsonl(DEFAULT_SET)) and m["heldout_n"] >= 60
    assert m["precision_ci95"][0] <= m["heldout_precision"] <= m["precision_ci95"][1]


HELDOUT_EMB = DEFAULT_SET.parent / "heldout_emb.npy"


def _heldout() -> tuple[list[dict], np.ndarray]:
    rows = [r for r in read_jsonl(DEFAULT_SET) if r["split"] == "heldout"]
    emb = np.load(HELDOUT_EMB)
    assert emb.shape == (len(rows), 384)
    return rows, emb


def test_shipped_model_heldout_metrics():
    """Held-out precision/recall and the flag rate on real gold rationales, recomputed from the
    shipped weights (embeddings cached in the asset; `test_heldout_embeddings_match` checks them)."""
    flt = RefusalFilter.load()
    rows, emb = _heldout()
    extra = np.array([label_features(r["text"], r["target"], r["labels"]) for r in rows], np.float32)
    pred = flt.probs(np.concatenate([emb, extra], axis=1)) >= flt.threshold
    y = np.array([r["refusal"] for r in rows]) == 1
    assert y.sum() >= 30 and (~y).sum() >= 30
    tp = int((pred & y).sum())
    precision, recall = tp / max(int(pred.sum()), 1), tp / max(int(y.sum()), 1)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    gold = np.array([r["source"] == "model_gold" for r in rows])
    assert gold.sum() >= 15 and pred[gold].mean() <= 0.15, pred[gold].mean()
    m = flt.meta["metrics"]
    assert precision == pytest.approx(m["heldout_precision"], abs=0.01)
    assert recall == pytest.approx(m["heldout_recall"], abs=0.01)


@pytest.mark.slow
def test_heldout_embeddings_match():
    from rllr.data.refusal import embed
    from rllr.models.fetch import is_cached

    if not is_cached("minilm-l6"):
        pytest.skip("minilm-l6 not cached")
    rows, emb = _heldout()
    idx = np.linspace(0, len(rows) - 1, 8).astype(int)
    again = embed([rows[i]["text"] for i in idx])
    assert np.allclose(again, emb[idx], atol=1e-3)


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
