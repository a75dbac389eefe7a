"""Rule rewards: small pure functions of (completion, example, task) -> float.

A *completion* is the generated text after the prompt's response prefix (for the
``judgement`` format the prompt already ends in ``<Judgement>``, so the completion starts
with the answer keyword).

- `judgement_reward` (RL for NLU on GLUE, section 4.2): 1 correct / 0 wrong / -1 bad
  format (no parseable ``<Judgement>…</Judgement>``). Regression (STS-B):
  2.5 - |pred - gold|, and -2.5 for a bad format.
- `answer_template_reward`: the same scale for RLLR's ``The answer is: X`` template, with a
  strict parse (no keyword fallback: a completion without the template is a bad format).
  RLLR itself trains with reward models only; this is a rule baseline in its format.
- `squad_em_reward` / `squad_f1_reward` (second paper, Appendix A): exact match and word F1
  against the best gold answer after SQuAD normalisation (lower-case, no punctuation, no
  articles, single spaces). Departure: an unparseable answer scores -1 (the paper does not
  say what a format error scores; -1 matches its classification rule).
"""

from __future__ import annotations

from rllr.eval.metrics import squad_em, squad_f1
from rllr.tasks.base import Example, Format, Task

BAD_FORMAT = -1.0
"""Reward for a completion whose answer cannot be parsed (classification, QA)."""
REGRESSION_BAD_FORMAT = -2.5
"""Reward for an unparseable regression answer (STS-B)."""
REGRESSION_MAX = 2.5
"""Regression reward is REGRESSION_MAX - |pred - gold|."""


def graded_reward(pred: object, ex: Example, task: Task) -> float:
    """The shared 1/0/-1 (regression: 2.5 - |pred - gold| / -2.5) scale for a parsed answer."""
    if task.kind == "regression":
        if pred is None:
            return REGRESSION_BAD_FORMAT
        return REGRESSION_MAX - abs(float(pred) - float(ex.label))  # type: ignore[arg-type]
    if pred is None:
        return BAD_FORMAT
    return 1.0 if task.is_correct(pred, ex) else 0.0


def judgement_reward(completion: str, ex: Example, task: Task) -> float:
    """1 / 0 / -1 from the keyword inside ``<Judgement>…</Judgement>`` (regression: 2.5 - |err|)."""
    return graded_reward(task.parse(completion, "judgement", strict=True), ex, task)


def answer_template_reward(completion: str, ex: Example, task: Task) -> float:
    """1 / 0 / -1 from RLLR's ``The answer is: X`` (strict: no template = bad format)."""
    return graded_reward(task.parse(completion, "rllr", strict=True), ex, task)


# --- SQuAD (normalisation and scores: rllr.eval.metrics, the official v1.1 script) ---------


def _qa_answer(completion: str, ex: Example, task: Task, fmt: Format) -> str | None:
    pred = task.parse(completion, fmt, strict=True)
    return None if pred is None else str(pred)


def _golds(ex: Example) -> tuple[str, ...]:
    return ex.answers or (str(ex.label),)


def squad_em_reward(completion: str, ex: Example, task: Task, fmt: Format = "judgement") -> float:
    """Exact match (0/1) of the parsed answer against the gold answers; -1 when unparseable."""
    answer = _qa_answer(completion, ex, task, fmt)
    return BAD_FORMAT if answer is None else squad_em(answer, _golds(ex))


def squad_f1_reward(completion: str, ex: Example, task: Task, fmt: Format = "judgement") -> float:
    """Word F1 in [0, 1] of the parsed answer against the gold answers; -1 when unparseable."""
    answer = _qa_answer(completion, ex, task, fmt)
    return BAD_FORMAT if answer is None else squad_f1(answer, _golds(ex))
