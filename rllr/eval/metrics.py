"""Task metrics as pure functions over lists, and the benchmark averages of both papers.

Scores are fractions in [0, 1] (correlations in [-1, 1]); the papers print them x100.

Unparseable predictions (`None`) always count as wrong:

- accuracy, EM, F1 (QA): a `None` scores 0.
- binary `f1` and `mcc`: a `None` is replaced by the label that is *not* the gold one, so it
  costs a false negative (gold positive) or a false positive (gold negative).
- `macro_f1` and multi-class `mcc`: a `None` becomes an extra "invalid" class that matches no
  gold label (a false negative for the gold class, a false positive for no class).
- `pearson` / `spearman`: a `None` is replaced by the mean of the valid predictions, which
  pulls the correlation toward 0 (if every prediction is None, the score is 0). Report the
  format-error rate next to them (`Task.metrics` does).
- A correlation with a constant side is undefined; it is reported as 0.0.

Averages: `glue_average` and `superglue_average` follow the second paper (Table 1, Table 6);
`rllr_average` follows RLLR Table 4 (checked against its SFT rows: MNLI-m and MNLI-mm are two
columns of equal weight, so the average is over 9 columns).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped,unused-ignore]

if TYPE_CHECKING:
    from rllr.tasks.base import Example

INVALID = object()  # stands in for a None prediction in multi-class confusion counts


# --- classification ----------------------------------------------------------------------


def accuracy(preds: Sequence[Any], golds: Sequence[Any]) -> float:
    """Fraction of `preds[i] == golds[i]`; None is wrong; 0.0 for empty input."""
    return float(sum(p is not None and p == g for p, g in zip(preds, golds)) / max(len(golds), 1))


def _binary_counts(preds: Sequence[Any], golds: Sequence[Any], positive: Any) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) for class `positive`; None counts as the wrong class."""
    tp = fp = fn = tn = 0
    for p, g in zip(preds, golds):
        pred_pos = (g != positive) if p is None else (p == positive)
        gold_pos = g == positive
        tp += pred_pos and gold_pos
        fp += pred_pos and not gold_pos
        fn += (not pred_pos) and gold_pos
        tn += (not pred_pos) and not gold_pos
    return tp, fp, fn, tn


def f1(preds: Sequence[Any], golds: Sequence[Any], positive: Any) -> float:
    """Binary F1 of class `positive`: 2 tp / (2 tp + fp + fn); 0.0 when tp + fp + fn = 0."""
    tp, fp, fn, _ = _binary_counts(preds, golds, positive)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def macro_f1(preds: Sequence[Any], golds: Sequence[Any], labels: Sequence[Any]) -> float:
    """Unweighted mean of the one-vs-rest F1 over the `labels` that occur as gold or prediction.

    Labels never seen on either side are left out (their F1 is 0/0), as scikit-learn does by
    default; a None prediction matches no class. 0.0 for empty input.
    """
    seen = set(golds) | {p for p in preds if p is not None}
    present = [c for c in labels if c in seen]
    if not present:
        return 0.0
    scores = []
    for c in present:
        tp = sum(p == c and g == c for p, g in zip(preds, golds))
        fp = sum(p == c and g != c for p, g in zip(preds, golds))
        fn = sum(p != c and g == c for p, g in zip(preds, golds))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores))


def mcc(preds: Sequence[Any], golds: Sequence[Any], labels: Sequence[Any]) -> float:
    """Matthews correlation (Gorodkin's K-class form; for 2 classes the usual binary MCC).

    MCC = (c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2)), with s samples,
    c correct, p_k / t_k how often class k is predicted / true. 0.0 when undefined.
    """
    if len(labels) == 2:
        preds = [(labels[0] if g == labels[1] else labels[1]) if p is None else p for p, g in zip(preds, golds)]
    else:
        preds = [INVALID if p is None else p for p in preds]
    s = len(golds)
    c = sum(p == g for p, g in zip(preds, golds))
    p_counts, t_counts = Counter(preds), Counter(golds)
    classes = set(p_counts) | set(t_counts)
    cov_pt = c * s - sum(p_counts[k] * t_counts[k] for k in classes)
    cov_pp = s * s - sum(v * v for v in p_counts.values())
    cov_tt = s * s - sum(v * v for v in t_counts.values())
    if cov_pp == 0 or cov_tt == 0:
        return 0.0
    return float(cov_pt / math.sqrt(cov_pp * cov_tt))


# --- regression ------------------------------------------------------------------------------


def _fill_none(preds: Sequence[float | None]) -> list[float] | None:
    """None -> mean of the valid predictions; None if no prediction is valid."""
    valid = [float(p) for p in preds if p is not None]
    if not valid:
        return None
    mean = sum(valid) / len(valid)
    return [mean if p is None else float(p) for p in preds]


def _correlation(fn: Callable[..., Any], preds: Sequence[float | None], golds: Sequence[float]) -> float:
    filled = _fill_none(preds)
    if filled is None or len(filled) < 2 or np.ptp(filled) == 0 or np.ptp(np.asarray(golds, float)) == 0:
        return 0.0
    return float(fn(filled, [float(g) for g in golds]).statistic)


def pearson(preds: Sequence[float | None], golds: Sequence[float]) -> float:
    """Pearson r; None predictions -> mean of the valid ones; 0.0 if undefined."""
    return _correlation(stats.pearsonr, preds, golds)


def spearman(preds: Sequence[float | None], golds: Sequence[float]) -> float:
    """Spearman rho (Pearson r of average ranks); None -> mean of the valid ones; 0.0 if undefined."""
    return _correlation(stats.spearmanr, preds, golds)


# --- extractive QA (official SQuAD v1.1 evaluation script) ------------------------------------


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation, drop the articles a/an/the, squeeze whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _token_f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_em(pred: str | None, answers: Sequence[str]) -> float:
    """1.0 if normalized `pred` equals a normalized gold answer, else 0.0 (None -> 0.0)."""
    if pred is None:
        return 0.0
    return float(max((normalize_answer(pred) == normalize_answer(a) for a in answers), default=False))


def squad_f1(pred: str | None, answers: Sequence[str]) -> float:
    """Max over gold answers of the bag-of-tokens F1 after normalization (None -> 0.0)."""
    if pred is None:
        return 0.0
    return max((_token_f1(pred, a) for a in answers), default=0.0)


# --- MultiRC ---------------------------------------------------------------------------------


def em_per_question(preds: Sequence[Any], golds: Sequence[Any], groups: Sequence[str | None]) -> float:
    """MultiRC EM: fraction of questions (groups) whose every answer option is right."""
    all_right: dict[str | None, bool] = defaultdict(lambda: True)
    for p, g, q in zip(preds, golds, groups):
        all_right[q] = all_right[q] and p is not None and p == g
    return sum(all_right.values()) / max(len(all_right), 1)


# --- language modeling -----------------------------------------------------------------------


def perplexity(total_nll: float, n_tokens: int) -> float:
    """exp(total NLL in nats / number of predicted tokens)."""
    if n_tokens <= 0:
        raise ValueError("perplexity needs n_tokens > 0")
    return math.exp(total_nll / n_tokens)


# --- dispatch ----------------------------------------------------------------------------------

MetricFn = Callable[[Sequence[Any], Sequence["Example"], Sequence[str]], float]

METRICS: dict[str, MetricFn] = {
    "accuracy": lambda p, ex, labels: accuracy(p, [e.label for e in ex]),
    "f1": lambda p, ex, labels: f1(p, [e.label for e in ex], labels[1]),
    "macro_f1": lambda p, ex, labels: macro_f1(p, [e.label for e in ex], labels),
    "mcc": lambda p, ex, labels: mcc(p, [e.label for e in ex], labels),
    "pearson": lambda p, ex, labels: pearson(p, [float(e.label) for e in ex]),
    "spearman": lambda p, ex, labels: spearman(p, [float(e.label) for e in ex]),
    "f1a": lambda p, ex, labels: f1(p, [e.label for e in ex], labels[1]),
    "em_q": lambda p, ex, labels: em_per_question(p, [e.label for e in ex], [e.group for e in ex]),
}
"""Metric name -> fn(preds, examples, labels). Binary `f1`/`f1a`: positive class = labels[1]."""

QA_METRICS: dict[str, MetricFn] = {
    "em": lambda p, ex, labels: _mean([squad_em(x, e.answers or (e.label,)) for x, e in zip(p, ex)]),
    "f1": lambda p, ex, labels: _mean([squad_f1(x, e.answers or (e.label,)) for x, e in zip(p, ex)]),
}
"""For kind ``extractive_qa``: SQuAD EM / token F1, max over `Example.answers`, averaged."""


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def compute_metrics(names: Sequence[str], preds: Sequence[Any], examples: Sequence[Example], *,
                    labels: Sequence[str], kind: str) -> dict[str, float]:
    """{name: score} for each metric name; `preds[i]` is the parsed answer for `examples[i]`."""
    if len(preds) != len(examples):
        raise ValueError(f"{len(preds)} predictions for {len(examples)} examples")
    table = QA_METRICS if kind == "extractive_qa" else METRICS
    out = {}
    for name in names:
        if name not in table:
            raise ValueError(f"unknown metric {name!r} for kind {kind!r} (known: {', '.join(table)})")
        out[name] = table[name](preds, examples, labels)
    return out


# --- benchmark averages ------------------------------------------------------------------------

GLUE_METRIC = {"cola": "mcc", "sst2": "accuracy", "mrpc": "f1", "qqp": "f1", "stsb": "spearman",
               "mnli": "accuracy", "mnli_m": "accuracy", "mnli_mm": "accuracy", "qnli": "accuracy",
               "rte": "accuracy"}
"""Second paper, Table 1: F1 for QQP/MRPC, Spearman for STS-B, MCC for CoLA, else accuracy.
WNLI and AX are left out of the average."""

SUPERGLUE_METRICS = {"boolq": ("accuracy",), "cb": ("macro_f1", "accuracy"), "copa": ("accuracy",),
                     "multirc": ("f1a", "em_q"), "record": ("f1", "em"), "superglue_rte": ("accuracy",),
                     "wic": ("accuracy",), "wsc": ("accuracy",)}
"""Second paper, Table 6: two-metric tasks are averaged first; AX-b / AX-g are not in its
printed averages (checked on its BERT-large and zero-shot rows)."""

RLLR_METRIC = {"mr": "accuracy", "ag_news": "accuracy", "app_reviews": "accuracy", "mrpc": "accuracy",
               "qqp": "accuracy", "mnli": "accuracy", "mnli_m": "accuracy", "mnli_mm": "accuracy",
               "sst2": "accuracy", "stsb": "pearson"}
"""RLLR section 4.1: Pearson for STS-B, accuracy for the rest."""


def _average(scores: Mapping[str, Mapping[str, float]], table: Mapping[str, Sequence[str]]) -> float:
    columns = [sum(scores[t][m] for m in ms) / len(ms) for t, ms in table.items() if t in scores]
    if not columns:
        raise ValueError(f"no benchmark task in scores (expected some of: {', '.join(table)})")
    return sum(columns) / len(columns)


def glue_average(scores: Mapping[str, Mapping[str, float]]) -> float:
    """Mean over the GLUE tasks present in `scores` ({task: {metric: value}}), one column each.

    MNLI-m and MNLI-mm are separate columns (Table 1 averages 9 columns). Pass either `mnli`
    (one column) or `mnli_m` + `mnli_mm`; passing all three counts MNLI three times.
    """
    return _average(scores, {t: (m,) for t, m in GLUE_METRIC.items()})


def superglue_average(scores: Mapping[str, Mapping[str, float]]) -> float:
    """Mean over the SuperGLUE tasks present; CB, MultiRC and ReCoRD first average their two metrics."""
    return _average(scores, SUPERGLUE_METRICS)


def rllr_average(scores: Mapping[str, Mapping[str, float]]) -> float:
    """RLLR Table 4 "AVG.": mean over the columns present (MNLI-m and MNLI-mm count separately).

    With `mnli` alone (our default test set) MNLI is one column, i.e. a mean over 8 tasks.
    """
    return _average(scores, {t: (m,) for t, m in RLLR_METRIC.items()})
