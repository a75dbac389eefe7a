"""Judge: both-order combination, verdict/score parsing, CLI over the fake teacher."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rllr.teacher.judge import combine, parse_scores, parse_verdict
from tests.teacher.fake_server import FakeServer


@pytest.mark.parametrize("ab, ba, out", [
    ("1", "2", ("win", False)),      # A first: 1 better; B first: 2 better -> A both times
    ("2", "1", ("lose", False)),
    ("equal", "equal", ("tie", False)),
    ("1", "1", ("tie", True)),       # position bias: always "Answer 1"
    ("1", "equal", ("tie", True)),
    (None, "1", ("invalid", False)),
])
def test_combine_both_orders(ab, ba, out):
    assert combine(ab, ba) == out


def test_parse_verdict_and_scores():
    assert parse_verdict("Answer 2 is better. Because...") == "2"
    assert parse_verdict("**Answer 1 is better**") == "1"
    assert parse_verdict("Equal. Both are fine") == "equal"
    assert parse_verdict("I cannot decide") is None
    assert parse_scores("Correctness: 4\nCoherence: 5") == {"correctness": 4, "coherence": 5}
    assert parse_scores("Correctness: 4") is None


def _preds(path, answers):
    prompt = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
    with open(path, "w") as f:
        f.writelines(json.dumps({"uid": f"t/{i}", "prompt": prompt.format(q=f"Q{i}?"),
                                "completions": [a], "gold": "positive"}) + "\n" for i, a in enumerate(answers))


def test_judge_cli_pairwise_and_score(tmp_path):
    _preds(tmp_path / "a.jsonl", ["GOOD answer", "GOOD too", "plain"])
    _preds(tmp_path / "b.jsonl", ["plain", "plain", "plain"])
    with FakeServer() as srv:
        base = [sys.executable, "-m", "rllr.cli", "judge", "--teacher-url", srv.url,
                "--a", str(tmp_path / "a.jsonl")]
        res = subprocess.run(base + ["--b", str(tmp_path / "b.jsonl"), "--out", str(tmp_path / "pw")],
                             check=False, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        res = subprocess.run(base + ["--score", "--out", str(tmp_path / "sc")],
                             check=False, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "pw.summary.json").read_text())
    # fake judge prefers Answer 1 iff it contains GOOD: pairs 0,1 -> A wins both orders;
    # pair 2 (plain vs plain) -> "Answer 2" in both orders -> inconsistent -> tie
    assert (s["win"], s["tie"], s["lose"]) == (2, 1, 0) and s["inconsistent_rate"] == pytest.approx(1 / 3)
    assert s["teacher"]["requests"] == 6
    sc = json.loads((tmp_path / "sc.summary.json").read_text())
    assert sc["valid"] == 3 and sc["correctness_mean"] == 4 and sc["coherence_mean"] == 5
