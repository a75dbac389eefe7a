"""The stage runner: keys, caching, invalidation of dependents only, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rllr.errors import ConfigError
from rllr.pipelines.stages import Stage, plan, run_stages, stage_dir, stage_key

# --- stage_key (pure) ------------------------------------------------------------------


def test_stage_key_is_order_independent_and_sensitive():
    a = stage_key("sft", {"lr": 1e-4, "epochs": 1}, {"data": "k1"}, {"f": "h"})
    b = stage_key("sft", {"epochs": 1, "lr": 1e-4}, {"data": "k1"}, {"f": "h"})
    assert a == b and len(a) == 64
    assert stage_key("sft", {"lr": 2e-4, "epochs": 1}, {"data": "k1"}, {"f": "h"}) != a
    assert stage_key("sft2", {"lr": 1e-4, "epochs": 1}, {"data": "k1"}, {"f": "h"}) != a
    assert stage_key("sft", {"lr": 1e-4, "epochs": 1}, {"data": "k2"}, {"f": "h"}) != a
    assert stage_key("sft", {"lr": 1e-4, "epochs": 1}, {"data": "k1"}, {"f": "h2"}) != a
    assert stage_key("sft", {"lr": 1e-4, "epochs": 1}, {"data": "k1"}) != a


def test_stage_key_nested_dicts_sorted():
    assert stage_key("x", {"a": {"b": 1, "c": 2}}, {}) == stage_key("x", {"a": {"c": 2, "b": 1}}, {})


# --- toy pipeline -----------------------------------------------------------------------


def _toy(calls: list[str]) -> list[Stage]:
    def data(inputs, cfg, out: Path):
        calls.append("data")
        (out / "data.txt").write_text(str(cfg["n"]))
        return {"path": str(out / "data.txt")}

    def train(inputs, cfg, out: Path):
        calls.append("train")
        n = int(Path(inputs["data"]["path"]).read_text())
        return {"score": n * cfg["lr"]}

    def other(inputs, cfg, out: Path):
        calls.append("other")
        return {"n": int(Path(inputs["data"]["path"]).read_text())}

    def report(inputs, cfg, out: Path):
        calls.append("report")
        return {"score": inputs["train"]["score"], "n": inputs["other"]["n"]}

    return [
        Stage("data", data),
        Stage("train", train, after=("data",)),
        Stage("other", other, after=("data",)),
        Stage("report", report, after=("train", "other")),
    ]


def test_second_run_is_fully_cached(tmp_path):
    calls: list[str] = []
    sections = {"data": {"n": 3}, "train": {"lr": 0.5}}
    res = run_stages(_toy(calls), sections, tmp_path)
    assert calls == ["data", "train", "other", "report"]
    assert res["report"].outputs == {"score": 1.5, "n": 3}
    assert not any(r.cached for r in res.values())
    done = json.loads((res["train"].out_dir / "DONE.json").read_text())
    assert done["outputs"] == {"score": 1.5} and done["wall_s"] >= 0

    calls.clear()
    res2 = run_stages(_toy(calls), sections, tmp_path)
    assert calls == []
    assert all(r.cached for r in res2.values())
    assert res2["report"].outputs == res["report"].outputs


def test_changing_one_section_reruns_only_dependents(tmp_path):
    calls: list[str] = []
    run_stages(_toy(calls), {"data": {"n": 3}, "train": {"lr": 0.5}}, tmp_path)
    calls.clear()
    res = run_stages(_toy(calls), {"data": {"n": 3}, "train": {"lr": 1.0}}, tmp_path)
    assert calls == ["train", "report"]
    assert res["data"].cached and res["other"].cached
    assert res["report"].outputs == {"score": 3.0, "n": 3}


def test_upstream_change_propagates(tmp_path):
    toy = _toy([])
    k1 = plan(toy, {"data": {"n": 3}})
    k2 = plan(toy, {"data": {"n": 4}})
    assert all(k1[n] != k2[n] for n in k1)
    k3 = plan(toy, {"data": {"n": 3}, "other": {"x": 1}})
    assert [n for n in k1 if k1[n] != k3[n]] == ["other", "report"]


def test_input_file_contents_enter_key(tmp_path):
    f = tmp_path / "raw.jsonl"
    f.write_text("a\n")
    stages = [Stage("data", lambda i, c, o: {}, input_files=(str(f),))]
    k1 = plan(stages, {})
    f.write_text("b\n")
    assert plan(stages, {}) != k1


def test_moving_the_data_folder_keeps_the_key(tmp_path):
    keys = []
    for root in ("a", "b"):
        f = tmp_path / root / "sst2" / "train.jsonl"
        f.parent.mkdir(parents=True)
        f.write_text("same\n")
        keys.append(plan([Stage("data", lambda i, c, o: {}, input_files=(str(f),))], {}))
    assert keys[0] == keys[1]


def test_interrupted_stage_resumes_in_same_dir(tmp_path):
    attempts: list[bool] = []

    def flaky(inputs, cfg, out: Path):
        partial = out / "partial.txt"
        attempts.append(partial.exists())
        if not partial.exists():
            partial.write_text("half")
            raise KeyboardInterrupt
        return {"resumed": True}

    stages = [Stage("flaky", flaky)]
    with pytest.raises(KeyboardInterrupt):
        run_stages(stages, {}, tmp_path)
    key = plan(stages, {})["flaky"]
    assert not (stage_dir(tmp_path, "flaky", key) / "DONE.json").exists()
    res = run_stages(stages, {}, tmp_path)
    assert attempts == [False, True]
    assert res["flaky"].outputs == {"resumed": True}


def test_force_reruns(tmp_path):
    calls: list[str] = []
    run_stages(_toy(calls), {"data": {"n": 1}, "train": {"lr": 1}}, tmp_path)
    calls.clear()
    run_stages(_toy(calls), {"data": {"n": 1}, "train": {"lr": 1}}, tmp_path, force=["train"])
    assert calls == ["train"]


def test_bad_order_rejected(tmp_path):
    stages = [Stage("b", lambda i, c, o: {}, after=("a",)), Stage("a", lambda i, c, o: {})]
    with pytest.raises(ConfigError, match="needs 'a'"):
        run_stages(stages, {}, tmp_path)
