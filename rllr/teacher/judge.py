"""LLM-judge comparisons (RLLR App. G) and 1-5 scores (second paper, Table 10b).

    rows, summary = judge_pairs(teacher, items_a, items_b)   # items: {uid, question, answer}
    rows, summary = judge_scores(teacher, items)

Pairwise: each pair is asked in both orders (A as Answer 1, then B as Answer 1). The
paper randomises the order once; asking both and combining cancels position bias:
A wins only when both orders prefer A, ties when both say Equal or the orders disagree
(the share of disagreeing pairs is reported separately as `inconsistent_rate`). A pair
whose verdict cannot be parsed or whose request failed in either order is `invalid`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rllr.teacher.client import ChatRequest, Teacher
from rllr.teacher.prompts import judge_prompt, score_prompt, user

Verdict = Literal["1", "2", "equal"]


def parse_verdict(text: str) -> Verdict | None:
    """The first of "Answer 1 is better" / "Answer 2 is better" / "Equal" in `text`."""
    m = re.search(r"answer\s*([12])\s*is\s*better|\b(equal)\b", text or "", re.IGNORECASE)
    if not m:
        return None
    return "equal" if m.group(2) else m.group(1)  # type: ignore[return-value]


def combine(ab: Verdict | None, ba: Verdict | None) -> tuple[str, bool]:
    """(outcome for A: win/tie/lose/invalid, orders inconsistent) from both orders' verdicts.

    In order AB, "1" favours A; in order BA, "2" favours A.
    """
    if ab is None or ba is None:
        return "invalid", False
    pref_ab = {"1": "A", "2": "B", "equal": "="}[ab]
    pref_ba = {"1": "B", "2": "A", "equal": "="}[ba]
    if pref_ab == pref_ba:
        return {"A": "win", "B": "lose", "=": "tie"}[pref_ab], False
    return "tie", True


def judge_pairs(teacher: Teacher, items_a: Sequence[Mapping[str, Any]],
                items_b: Sequence[Mapping[str, Any]], *, max_tokens: int = 256,
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows per pair and a summary (win/tie/lose rates of A against B)."""
    requests = []
    for a, b in zip(items_a, items_b):
        q = a["question"]
        requests.append(ChatRequest(user(judge_prompt(q, a["answer"], b["answer"])), max_tokens=max_tokens))
        requests.append(ChatRequest(user(judge_prompt(q, b["answer"], a["answer"])), max_tokens=max_tokens))
    results = teacher.chat(requests)
    rows = []
    for k, (a, b) in enumerate(zip(items_a, items_b)):
        r_ab, r_ba = results[2 * k], results[2 * k + 1]
        v_ab = parse_verdict(r_ab.text) if r_ab.ok else None
        v_ba = parse_verdict(r_ba.text) if r_ba.ok else None
        outcome, inconsistent = combine(v_ab, v_ba)
        rows.append({"uid": a["uid"], "outcome": outcome, "inconsistent": inconsistent,
                     "verdict_ab": v_ab, "verdict_ba": v_ba,
                     "error": r_ab.error or r_ba.error, "judge_ab": r_ab.text, "judge_ba": r_ba.text})
    valid = [r for r in rows if r["outcome"] != "invalid"]
    n = max(len(valid), 1)
    summary = {"pairs": len(rows), "valid": len(valid), "invalid": len(rows) - len(valid),
               **{o: sum(r["outcome"] == o for r in valid) for o in ("win", "tie", "lose")},
               **{f"{o}_rate": sum(r["outcome"] == o for r in valid) / n for o in ("win", "tie", "lose")},
               "inconsistent_rate": sum(r["inconsistent"] for r in valid) / n}
    return rows, summary


_SCORE = re.compile(r"(correctness|coherence)\s*[:=]\s*\**\s*([1-5])\b", re.IGNORECASE)


def parse_scores(text: str) -> dict[str, int] | None:
    """{"correctness": x, "coherence": y} from "Correctness: x / Coherence: y", else None."""
    found: dict[str, int] = {}
    for name, value in _SCORE.findall(text or ""):
        found.setdefault(name.lower(), int(value))
    return found if len(found) == 2 else None


def judge_scores(teacher: Teacher, items: Sequence[Mapping[str, Any]], *, max_tokens: int = 256,
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """1-5 correctness/coherence per answer; the summary holds the means over parsed scores."""
    requests = [ChatRequest(user(score_prompt(it["question"], it["answer"], it.get("reference"))),
                            max_tokens=max_tokens) for it in items]
    rows = []
    for it, res in zip(items, teacher.chat(requests)):
        scores = parse_scores(res.text) if res.ok else None
        rows.append({"uid": it["uid"], "scores": scores, "error": res.error, "judge": res.text})
    valid = [r["scores"] for r in rows if r["scores"]]
    n = max(len(valid), 1)
    summary = {"answers": len(rows), "valid": len(valid),
               "correctness_mean": sum(s["correctness"] for s in valid) / n,
               "coherence_mean": sum(s["coherence"] for s in valid) / n}
    return rows, summary
