"""Small pure pieces of the RLLR stage wiring: batch capping, judge items from predictions,
the demo-vs-sample fallback for unusable teacher rankings, the Figure 4 table."""

from __future__ import annotations

import json

from rllr.pipelines import rllr_stages
from rllr.report.tables import win_tie_lose_table
from rllr.tasks import get_task


def test_capped_batch_keeps_micro_a_divisor():
    assert rllr_stages._capped_batch({"batch_size": 8, "micro_batch_size": 4, "lr": 1.0}, 100) == \
        {"batch_size": 8, "micro_batch_size": 4, "lr": 1.0}
    assert rllr_stages._capped_batch({"batch_size": 8, "micro_batch_size": 4}, 3) == \
        {"batch_size": 3, "micro_batch_size": 3}
    assert rllr_stages._capped_batch({"batch_size": 8, "micro_batch_size": 4}, 6) == \
        {"batch_size": 6, "micro_batch_size": 6}
    assert rllr_stages._capped_batch({}, 0)["batch_size"] == 1


def test_judge_items_take_first_completion_and_known_questions(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"uid": "a", "prompt": "P(a)", "completions": ["x", "y"]},
            {"uid": "b", "prompt": "P(b)", "completions": []}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = rllr_stages.judge_items(path, {"a": "Q(a)"})
    assert items["a"] == {"uid": "a", "question": "Q(a)", "answer": "x"}
    assert items["b"] == {"uid": "b", "question": "P(b)", "answer": ""}


def test_demo_vs_sample_pairs_only_for_rejected_prompts_and_wrong_samples():
    task = get_task("sst2")
    exs = task.load("sft", None, limit=2)
    gold = exs[0].label
    wrong = next(lab for lab in task.labels if lab != gold)
    responses = [[f"Because. The answer is: {gold}", f"Nope. The answer is: {wrong}", "rambling", "rambling"],
                 ["anything"]]
    rationales = {"sst2": [{"uid": ex.uid, "rationale_gold": "Teacher says so."} for ex in exs]}
    rejected = [{"uid": exs[0].uid, "task": "sst2", "reason": "no 'Ranking:' line"}]
    pairs = rllr_stages.demo_vs_sample_pairs({"sst2": (exs, responses)}, rejected, rationales)
    assert [p["rejected"] for p in pairs] == [f"Nope. The answer is: {wrong}", "rambling"]
    assert all(p["uid"] == exs[0].uid and p["kind"] == "rationale" for p in pairs)
    assert pairs[0]["chosen"] == task.target(exs[0], "rllr", rationale="Teacher says so.")


def test_win_tie_lose_table_shows_inconsistency_when_given():
    plain = win_tie_lose_table({"A vs B": {"win": 1, "tie": 1, "lose": 2}})
    assert "order-inconsistent" not in plain and "| A vs B | 1 (25%) | 1 (25%) | 2 (50%) |" in plain
    full = win_tie_lose_table({"A vs B": {"win": 1, "tie": 1, "lose": 2, "invalid": 3,
                                          "inconsistent_rate": 0.5}})
    assert "| A vs B | 1 (25%) | 1 (25%) | 2 (50%) | 3 | 50% |" in full
