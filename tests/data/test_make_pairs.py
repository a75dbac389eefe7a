"""Label- and rationale-sensitive pairs: schema, split, rankings, no refusals."""

from __future__ import annotations

import json
import subprocess
import sys

from rllr.data.make_pairs import label_pairs, rationale_pairs, split_pairs
from rllr.io import read_jsonl
from rllr.tasks.registry import get_task
from rllr.teacher.client import HTTPBackend, Teacher
from tests.teacher.fake_server import FakeServer

KEYS = {"prompt", "chosen", "rejected", "task", "uid", "kind"}


def _rows(n):
    return [{"uid": f"sst2/sft/{i}", "task": "sst2", "question": f"Q{i}", "label": "positive",
             "wrong_label": "negative", "rationale_gold": f"good {i}", "rationale_wrong": f"bad {i}",
             "teacher": "t", "status": "ok"} for i in range(n)]


def test_label_pairs_schema_and_refusals_dropped():
    task = get_task("sst2")
    rows = _rows(3)
    rows[1]["rationale_wrong"] = "As an AI, I cannot argue that."
    rows[2]["status"] = "filtered"
    pairs, dropped = label_pairs(task, rows)
    assert len(pairs) == 1 and set(pairs[0]) == KEYS and [d["uid"] for d in dropped] == ["sst2/sft/1"]
    assert pairs[0]["chosen"] == "good 0\n\nThe answer is: positive"
    assert pairs[0]["rejected"] == "bad 0\n\nThe answer is: negative"
    assert pairs[0]["prompt"] == "Q0" and pairs[0]["kind"] == "label"


def test_split_is_by_prompt_and_stable():
    pairs = [{"uid": f"u{i // 3}", "x": i} for i in range(300)]
    train, held = split_pairs(pairs, 0.2)
    assert len(train) + len(held) == 300 and 30 < len(held) < 100
    assert not {p["uid"] for p in train} & {p["uid"] for p in held}
    assert split_pairs(pairs, 0.2) == (train, held)


def test_rationale_pairs_from_rankings():
    task = get_task("sst2")
    exs = task.load("sft", limit=3)
    responses = [["a", "b", "c", "d", "e"],
                 ["a", "b", "I'm sorry, I can't", "", "e"],  # 3 usable -> ranking over 3 answers
                 ["same"] * 5]                                 # 1 usable -> rejected
    with FakeServer() as srv:
        teacher = Teacher(HTTPBackend(srv.url, "fake"), backoff_base=0.01)
        pairs, rejected = rationale_pairs(task, exs, responses, teacher)
        prompts = list(srv.attempts)
    # "Ranking: 1>2=3>4>5" -> 1 beats 4, {2,3} beat 2 each, 4 beats 5: 4 + 2*2 + 1 = 9 pairs
    first = [p for p in pairs if p["uid"] == exs[0].uid]
    assert len(first) == 9 and ("a", "e") in {(p["chosen"], p["rejected"]) for p in first}
    assert all(set(p) == KEYS and p["kind"] == "rationale" for p in pairs)
    # the 3-answer ranking reply "1>2=3>4>5" names items beyond 3 -> rejected with a reason
    reasons = {r["uid"]: r["reason"] for r in rejected}
    assert "out of range" in reasons[exs[1].uid] and "usable" in reasons[exs[2].uid]
    assert all("sorry" not in p["chosen"] + p["rejected"] and p["chosen"] and p["rejected"]
               for p in pairs)
    assert len(prompts) == 2 and all("Ranking: {e.g. " in p for p in prompts)


def test_cli_label_pairs_heldout(tmp_path):
    src = tmp_path / "r.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in _rows(40)))
    out = tmp_path / "pairs.jsonl"
    res = subprocess.run([sys.executable, "-m", "rllr.cli", "data", "pairs", "--kind", "label",
                          "--task", "sst2", "--rationales", str(src), "--out", str(out),
                          "--heldout", "0.2"], check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    train = read_jsonl(tmp_path / "pairs.train.jsonl")
    held = read_jsonl(tmp_path / "pairs.heldout.jsonl")
    assert len(train) + len(held) == 40 and held and train
