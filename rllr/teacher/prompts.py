"""Teacher prompt templates, verbatim from the papers where the papers give them.

- `rationale_prompt`: RLLR Appendix B (rationale for a given label, confident tone).
- `ranking_prompt`: RLLR Appendix C (rank 5 sampled answers; a fresh shuffled
  `{ranking_example}` per request, built by `rllr.teacher.ranking.ranking_example`).
- `judge_prompt`: RLLR Appendix G (pairwise "Answer 1 is better" / "Answer 2 is better" / "Equal").
- `score_prompt`: 1-5 scores for correctness and coherence (second paper, Table 10b). The
  paper does not print its prompt; this wording and the "Correctness: X / Coherence: Y"
  output format are ours.

The papers write `\\n\\n` between blocks; we use real newlines (what the rendered prompt in
the paper means), and the curly quotes of Appendix B are kept exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

RATIONALE_TEMPLATE = (
    "{question}\n\nPlease give a rationale for the answer \u201c{label}\u201d in a confident tone "
    "(regardless of the true answer):"
)

RANKING_TEMPLATE_HEAD = (
    "Given the following question and answers, please rank the answers according to your "
    "preference, considering accuracy, coherence, logicality, factuality, relevance, and "
    "information completeness.\n\n[Question] {question}"
)
RANKING_TEMPLATE_TAIL = (
    "\n\nPlease give your rationale first, and then give the ranking. Output format: "
    "\u201c{{rationale}}\n\nRanking: {{e.g. {ranking_example}}}\u201d"
)

JUDGE_TEMPLATE = (
    "Given the following question and two candidate answers, please choose which one is "
    "better, considering accuracy, coherence, logicality, factuality, relevance, and "
    "information completeness.\n\n[Question] {question}\n\n[Answer 1] {answer_1}\n\n"
    "[Answer 2] {answer_2}\n\nPlease response with \u201cAnswer 1 is better\u201d or "
    "\u201cAnswer 2 is better\u201d or \u201cEqual\u201d first, and then give your rationale."
)

SCORE_TEMPLATE = (
    "Given the following question and answer, rate the answer on a scale from 1 to 5 for "
    "answer correctness and for logical coherence (1 = very poor, 5 = excellent).{reference}"
    "\n\n[Question] {question}\n\n[Answer] {answer}\n\nPlease respond first with exactly two "
    "lines, \u201cCorrectness: X\u201d and \u201cCoherence: Y\u201d with X and Y integers from 1 to 5, "
    "and then give your rationale."
)


def rationale_prompt(question: str, label: str) -> str:
    """RLLR App. B: ask for a confident rationale of `label` for `question`."""
    return RATIONALE_TEMPLATE.format(question=question, label=label)


def ranking_prompt(question: str, answers: Sequence[str], ranking_example: str) -> str:
    """RLLR App. C: ask to rank `answers` (numbered from 1) for `question`."""
    parts = [RANKING_TEMPLATE_HEAD.format(question=question)]
    for i, answer in enumerate(answers, start=1):
        parts.append(f"\n\n[Answer {i}] {answer}")
    parts.append(RANKING_TEMPLATE_TAIL.format(ranking_example=ranking_example))
    return "".join(parts)


def judge_prompt(question: str, answer_1: str, answer_2: str) -> str:
    """RLLR App. G: pairwise comparison of two answers."""
    return JUDGE_TEMPLATE.format(question=question, answer_1=answer_1, answer_2=answer_2)


def score_prompt(question: str, answer: str, reference: str | None = None) -> str:
    """1-5 correctness and coherence scores for one answer (second paper, Table 10b)."""
    ref = f" The reference answer is \u201c{reference}\u201d." if reference else ""
    return SCORE_TEMPLATE.format(question=question, answer=answer, reference=ref)


def user(content: str) -> tuple[dict[str, str], ...]:
    """A one-turn chat: the messages of a teacher request."""
    return ({"role": "user", "content": content},)
