"""Rationale collection over the fake teacher: faults, failures, refusals, resume after SIGKILL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rllr.data.make_pairs import label_pairs
from rllr.data.rationales import build_rationales, side_paths
from rllr.data.refusal import rules_only
from rllr.io import read_jsonl
from rllr.tasks.registry import get_task
from rllr.teacher.client import HTTPBackend, Teacher
from tests.teacher.fake_server import FakeServer, canned_answer

RLLR = [sys.executable, "-m", "rllr.cli"]


def _h(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16)


def _answer(prompt: str, i: int = 0) -> str:
    if _h(prompt) % 9 == 1:
        return "I'm sorry, but I can't argue for that answer."
    if _h(prompt) % 9 == 2:
        return "   "
    return canned_answer(prompt, i)


def _poison(prompt: str) -> bool:
    return _h(prompt) % 9 == 3


def _all_rows(out: Path) -> dict[str, list[dict]]:
    return {p.name: read_jsonl(p) if p.is_file() else [] for p in side_paths(out)}


def test_every_row_done_or_listed_under_faults(tmp_path):
    task = get_task("sst2")
    examples = task.load("sft", limit=30)
    out = tmp_path / "rationales.jsonl"
    with FakeServer(faults=True, stall_s=1.0, answer=_answer, poison=_poison) as srv:
        teacher = Teacher(HTTPBackend(srv.url, "fake", timeout=0.5), concurrency=8,
                          max_retries=3, backoff_base=0.01)
        counts = build_rationales(task, examples, teacher, out, check=rules_only, chunk_size=8)
    files = _all_rows(out)
    uids = Counter(r["uid"] for rows in files.values() for r in rows)
    assert sorted(uids) == sorted(ex.uid for ex in examples) and set(uids.values()) == {1}
    ok, failed, filtered = files.values()
    assert (counts.done, counts.failed, counts.filtered) == (len(ok), len(failed), len(filtered))
    assert ok and failed and filtered  # the canned faults hit every path
    assert all("HTTP 500" in r["reason"] or "empty answer" in r["reason"] for r in failed)
    assert all("refusal" in r["reason"] for r in filtered)
    # gold_ok: the gold rationale passed and only the wrong-label one was flagged
    assert all(r["gold_ok"] == (not r["reason"].startswith("gold:")) for r in filtered)
    assert any(r["gold_ok"] for r in filtered)
    # SFT with rationales reads the ok rows plus the gold_ok filtered ones
    from rllr.data.sft import load_rationales

    rats = load_rationales(out)
    assert set(rats) == {r["uid"] for r in ok} | {r["uid"] for r in filtered if r["gold_ok"]}
    assert all(rats[r["uid"]] == r["rationale_gold"] for r in filtered if r["gold_ok"])
    for r in ok:
        assert r["wrong_label"] != r["label"] and r["status"] == "ok" and r["teacher"] == "fake"
        assert r["rationale_gold"].strip() and "sorry" not in r["rationale_gold"].lower()
        assert r["label"] in r["rationale_gold"] and r["wrong_label"] in r["rationale_wrong"]
    pairs, dropped = label_pairs(task, ok + filtered + failed)
    assert len(pairs) == len(ok) and not dropped
    assert all("sorry" not in p["chosen"] + p["rejected"] for p in pairs)
    assert pairs[0]["chosen"].endswith(f"\n\nThe answer is: {ok[0]['label']}")
    # rerun: nothing left to do, nothing asked
    again = build_rationales(task, examples, teacher, out, check=rules_only)
    assert again.skipped == 30 and again.done == again.failed == 0


def _cmd(url: str, out: Path, limit: int) -> list[str]:
    return RLLR + ["data", "rationales", "--task", "sst2", "--teacher-url", url, "--out", str(out),
                   "--limit", str(limit), "--chunk-size", "3", "--filter", "rules",
                   "--timeout", "1", "--retries", "3"]


def test_sigkilled_job_resumes_to_identical_files(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with FakeServer(faults=True, stall_s=1.2, delay_s=0.05, answer=_answer, poison=_poison) as srv:
        whole = tmp_path / "a" / "rationales.jsonl"
        subprocess.run(_cmd(srv.url, whole, 24), check=True, env=env, capture_output=True, timeout=300)
        killed = tmp_path / "b" / "rationales.jsonl"
        proc = subprocess.Popen(_cmd(srv.url, killed, 24), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if killed.is_file() and len(killed.read_bytes().splitlines()) >= 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "job finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = sum(len(r) for r in _all_rows(killed).values() if r)
        assert 0 < partial < 24
        with open(killed, "a") as f:
            f.write('{"uid": "sst2/sft/99", "torn')  # a line cut short by the kill
        res = subprocess.run(_cmd(srv.url, killed, 24), env=env, check=False, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr
    for a, b in zip(side_paths(whole), side_paths(killed)):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_unreachable_teacher_fails_fast_one_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.time()
    res = subprocess.run(_cmd(url, tmp_path / "r.jsonl", 4), check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and time.time() - t0 < 30
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}/v1/models" in lines[0], res.stderr
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("limit", [3])
def test_wrong_label_is_stable_across_order(tmp_path, limit):
    from rllr.data.rationales import wrong_label_for

    task = get_task("mnli")
    exs = task.load("sft", limit=10)
    first = [wrong_label_for(task, ex, 0) for ex in exs]
    assert first == [wrong_label_for(task, ex, 0) for ex in reversed(exs)][::-1]
    assert all(w != ex.label for w, ex in zip(first, exs))


# --- answers cut off by max_tokens, and resampling -------------------------------------


@pytest.mark.parametrize(("text", "whole"), [
    ("It is good. It is", "It is good."),
    ("Great film! Really? Yes.", "Great film! Really? Yes."),
    ('He said "awful." Then the', 'He said "awful."'),
    ("Rated 3.5 stars and", ""),            # a decimal point ends no sentence
    ("It works (mostly.) But", "It works (mostly.)"),
    ("  no sentence at all ", ""),
])
def test_complete_sentences(text, whole):
    from rllr.data.rationales import complete_sentences

    assert complete_sentences(text) == whole


def _kind(prompt: str) -> int:
    return _h(prompt) % 5


def _cut_or_refuse(prompt: str, i: int, req: dict) -> str:
    """Greedy: kind 0 refuses, 1 stops mid-sentence, 2 has no complete sentence, 3 is empty
    when resampled (the greedy answer is refused). Resamples (seed >= 1) answer normally
    from seed 2 on; kind 0 still refuses at seed 1."""
    kind, seed = _kind(prompt), int(req["seed"])
    whole = canned_answer(prompt, i)
    if req["temperature"] == 0:
        if kind in (0, 3):
            return "I'm sorry, but I can't argue for that answer."
        if kind == 1:
            return whole + " Its wording is"
        if kind == 2:
            return "Because its wording"
        return whole
    assert req["temperature"] == 0.7 and seed >= 1
    if kind == 3:
        return ""
    if kind == 0 and seed == 1:
        return "I'm sorry, but I can't argue for that answer."
    return whole


def _build(tmp_path, name, **kw):
    task = get_task("sst2")
    examples = task.load("sft", limit=24)
    out = tmp_path / name / "rationales.jsonl"
    with FakeServer(answer=_cut_or_refuse, answer_sees_request=True) as srv:
        teacher = Teacher(HTTPBackend(srv.url, "fake", timeout=5), concurrency=4)
        counts = build_rationales(task, examples, teacher, out, check=rules_only, chunk_size=8, **kw)
    return task, counts, _all_rows(out), srv.requests


def _prompt_of(task, row, side):
    from rllr.teacher.prompts import rationale_prompt

    ex = next(e for e in task.load("sft", limit=24) if e.uid == row["uid"])
    label = row["label"] if side == "gold" else row["wrong_label"]
    return rationale_prompt(task.question(ex), task.format_label(label))


def test_truncated_answers_are_trimmed_or_dropped(tmp_path):
    task, counts, files, _ = _build(tmp_path, "trim", truncated="trim")
    ok, failed, filtered = files.values()
    assert counts.resampled == 0 and len(ok) + len(failed) + len(filtered) == 24
    for r in ok + filtered:
        for side in ("gold", "wrong"):
            text = r[f"rationale_{side}"]
            if _kind(_prompt_of(task, r, side)) == 1:
                assert text.endswith(".") and " Its wording is" not in text
                assert side in r["trimmed"]
            else:
                assert side not in r.get("trimmed", [])
    assert any("no complete sentence" in r["reason"] for r in failed)
    assert any(r.get("trimmed") for r in ok)
    _, _, dropped, _ = _build(tmp_path, "drop", truncated="drop")
    assert any("cut off mid-sentence" in r["reason"] for r in dropped["rationales.failed.jsonl"])
    assert not any(r.get("trimmed") for r in dropped["rationales.jsonl"])
    _, _, kept, _ = _build(tmp_path, "keep")
    assert any(" Its wording is" in r["rationale_gold"] + r["rationale_wrong"] for r in kept["rationales.jsonl"])


def test_resampling_replaces_flagged_and_unusable_rationales(tmp_path):
    task, counts, files, requests = _build(tmp_path, "re", truncated="drop", resample=2)
    ok, failed, filtered = files.values()
    # kinds 0-2 are fixed by a resample; kind 3 (refused, then empty) keeps its refused answer
    for r in ok:
        kinds = {side: _kind(_prompt_of(task, r, side)) for side in ("gold", "wrong")}
        assert 3 not in kinds.values() and "sorry" not in (r["rationale_gold"] + r["rationale_wrong"]).lower()
        want = {side: 1 if k == 4 else (3 if k == 0 else 2) for side, k in kinds.items()}
        assert r.get("attempts", {"gold": 1, "wrong": 1}) == want
    assert not failed
    for r in filtered:  # the kind-3 rows: resampling gave nothing better and lost nothing
        flagged = [s for s in ("gold", "wrong") if _kind(_prompt_of(task, r, s)) == 3]
        assert flagged and all(f"{s}: " in r["reason"] for s in flagged)
        assert r["gold_ok"] == ("gold" not in flagged)
        assert "sorry" in (r["rationale_gold"] + r["rationale_wrong"]).lower()
    resampled = [q for q in requests if q["temperature"] > 0]
    assert counts.resampled == len(resampled) > 0
    assert {q["seed"] for q in resampled} == {1, 2}
    assert len(ok) > len(_build(tmp_path, "once", truncated="drop")[2]["rationales.jsonl"])
