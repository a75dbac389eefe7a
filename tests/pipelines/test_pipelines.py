"""The reproduce presets load, resolve and plan; the reports build from stage outputs;
the encoder baseline trains a tiny random encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rllr.config import load_config
from rllr.errors import ConfigError
from rllr.pipelines import glue_pipeline, rllr_pipeline
from rllr.pipelines.stages import StageResult, plan

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "reproduce"
RLLR_PRESETS = ["quickstart", "tiny", "cpu-full", "gpu-7b"]


@pytest.mark.parametrize("name", RLLR_PRESETS)
def test_rllr_presets_plan(name):
    cfg = load_config(rllr_pipeline.RllrReproduceConfig, CONFIGS / f"{name}.yaml")
    keys = plan(rllr_pipeline.stages(cfg), rllr_pipeline.sections(cfg))
    assert list(keys)[:2] == ["data", "rationales"] and "judge" in keys and len(keys) == 13


def test_rllr_sections_wire_stage_configs():
    from rllr.pipelines.common import stage_config
    from rllr.train.ppo import PPOConfig
    from rllr.train.sft import SFTConfig

    cfg = load_config(rllr_pipeline.RllrReproduceConfig, CONFIGS / "quickstart.yaml")
    secs = rllr_pipeline.sections(cfg)
    sft = stage_config(SFTConfig, secs["sft_rat"], {"out": "x", "data": {"rationale_file": "r"}}, "t")
    assert sft.data.format == "rationale" and sft.data.tasks == ("sst2", "mnli")
    for name, sources in (("ppo_rlhf", {"rm_rationale"}), ("ppo_rllr", {"rm_label"}),
                          ("ppo_mixed", {"rm_label", "rm_rationale"})):
        ppo = stage_config(PPOConfig, secs[name], {"rewards": {"rm_label": "l", "rm_rationale": "r"}}, "t")
        assert set(ppo.rewards.sources) == sources and ppo.fmt == "rllr"
    assert secs["ppo_mixed"]["rewards"]["mix"] == "rllr"


def test_changing_ppo_mixed_reruns_only_it_and_downstream():
    cfg = load_config(rllr_pipeline.RllrReproduceConfig, CONFIGS / "tiny.yaml")
    cfg2 = load_config(rllr_pipeline.RllrReproduceConfig, CONFIGS / "tiny.yaml", ["ppo_mixed.kl_coef=0.2"])
    k1 = plan(rllr_pipeline.stages(cfg), rllr_pipeline.sections(cfg))
    k2 = plan(rllr_pipeline.stages(cfg2), rllr_pipeline.sections(cfg2))
    assert [n for n in k1 if k1[n] != k2[n]] == ["ppo_mixed", "eval", "judge"]


def test_glue_preset_plan_and_flags():
    cfg = load_config(glue_pipeline.GlueReproduceConfig, CONFIGS / "glue-quickstart.yaml")
    names = [s.name for s in glue_pipeline.stages(cfg)]
    assert names == ["data", "zero_shot", "few_shot", "encoder", "sft", "ppo", "grpo", "eval", "transfer"]
    cfg = load_config(glue_pipeline.GlueReproduceConfig, CONFIGS / "glue-quickstart.yaml",
                      ["perplexity.enabled=true", "ppo.enabled=false", "grpo.enabled=false",
                       "sft.enabled=false"])
    names = [s.name for s in glue_pipeline.stages(cfg)]
    assert "eval" not in names and "perplexity" in names
    plan(glue_pipeline.stages(cfg), glue_pipeline.sections(cfg))


def test_glue_rl_from_sft_depends_on_sft():
    cfg = load_config(glue_pipeline.GlueReproduceConfig, CONFIGS / "glue-quickstart.yaml")
    after = {s.name: s.after for s in glue_pipeline.stages(cfg)}
    assert after["ppo"] == ("data", "sft") and after["grpo"] == ("data", "sft")
    cfg = load_config(glue_pipeline.GlueReproduceConfig, CONFIGS / "glue-quickstart.yaml", ["grpo.init=base"])
    assert {s.name: s.after for s in glue_pipeline.stages(cfg)}["grpo"] == ("data",)
    cfg = load_config(glue_pipeline.GlueReproduceConfig, CONFIGS / "glue-quickstart.yaml", ["sft.enabled=false"])
    with pytest.raises(ConfigError, match="ppo.init=sft needs the sft section"):
        glue_pipeline.stages(cfg)


def _res(name, outputs, cached=False):
    return StageResult(name, "k" * 64, Path("."), outputs, 1.5, cached)


def test_rllr_report_from_stage_outputs(tmp_path):
    cfg = load_config(rllr_pipeline.RllrReproduceConfig, CONFIGS / "tiny.yaml")
    cell = {"point": 0.75, "low": 0.6, "high": 0.9}
    results = {
        "data": _res("data", {"sizes": {"sst2": {"sft": 8, "rl": 4, "test": 8}}}, cached=True),
        "sft": _res("sft", {"metrics": str(tmp_path / "none.jsonl")}),
        "sft_rat": _res("sft_rat", {"metrics": str(tmp_path / "none.jsonl")}),
        "rm_label": _res("rm_label", {"metrics": str(tmp_path / "none.jsonl")}),
        "rm_rationale": _res("rm_rationale", {"metrics": str(tmp_path / "none.jsonl")}),
        **{n: _res(n, {"metrics": str(tmp_path / "none.jsonl")}) for n in rllr_pipeline.PPO_REWARDS},
        "eval": _res("eval", {"table4": {m: {"sst2": cell, "mnli": cell} for m in rllr_pipeline.METHODS}}),
        "rm_eval": _res("rm_eval", {"table5": {"label RM": {"sst2": cell, "mnli": cell},
                                               "rationale RM": {"sst2": cell, "mnli": cell}}}),
        "judge": _res("judge", {"win_tie_lose": {"RLLR vs SFT w. rat.": {"win": 3, "tie": 1, "lose": 1}}}),
    }
    md = rllr_pipeline.write_rllr_report(cfg, rllr_pipeline.sections(cfg), results, tmp_path)
    text = md.read_text()
    for m in rllr_pipeline.METHODS:
        assert f"| {m} |" in text
    label_rm = next(line for line in text.splitlines() if line.startswith("| label RM |"))
    assert "75.0 [60.0, 90.0]" in label_rm and "| rationale RM |" in text and "*id0" not in text
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 1


def test_encoder_baseline_tiny_random(tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel

    from rllr.pipelines.encoder_baseline import EncoderSettings, pool, train_and_evaluate
    from rllr.tasks.base import Example

    h = torch.ones(2, 3, 4)
    assert torch.equal(pool(h * torch.arange(3.0).view(1, 3, 1), torch.tensor([[1, 1, 0], [1, 1, 1]]),
                            "mean")[:, 0], torch.tensor([0.5, 1.0]))

    class Tok:
        def __call__(self, a, b=None, **kw):
            ids = [[1 + (hash(w) % 50) for w in t.split()][:8] for t in a]
            n = max(len(i) for i in ids)
            return {"input_ids": torch.tensor([i + [0] * (n - len(i)) for i in ids]),
                    "attention_mask": torch.tensor([[1] * len(i) + [0] * (n - len(i)) for i in ids])}

    class Spec:
        fields = ("text",)

    class ToyTask:
        name, kind, labels, spec = "toy", "classification", ("negative", "positive"), Spec()

        def load(self, split, data_dir, limit=None):
            rows = [Example("toy", f"{split}{i}", {"text": "good film" if i % 2 else "bad film"},
                            "positive" if i % 2 else "negative") for i in range(16)]
            return rows[:limit] if limit else rows

    enc = BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32))
    res = train_and_evaluate(ToyTask(), enc, Tok(), EncoderSettings(epochs=15, lr=3e-3, batch_size=8), None)
    assert res["n_test"] == 16 and res["steps"] == 30
    acc = res["accuracy"]
    assert acc["low"] <= acc["point"] <= acc["high"] and acc["point"] >= 0.9


def test_runtime_rows_mean_seconds_and_peak_memory(tmp_path):
    f = tmp_path / "metrics.jsonl"
    f.write_text('{"step": 1, "time/step_s": 2.0, "memory/peak_rss_mib": 900.0}\n'
                 '{"step": 2, "time/step_s": 4.0, "memory/peak_rss_mib": 1100.0}\n'
                 '{"step": 2, "eval/sst2/accuracy": 0.5}\n')
    rows = glue_pipeline.runtime_rows({"ppo": str(f), "grpo": str(tmp_path / "missing.jsonl")})
    assert rows == {"ppo": {"s/step": 3.0, "peak memory (MiB)": 1100.0}}
