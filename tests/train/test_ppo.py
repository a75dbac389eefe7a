"""End-to-end PPO / GRPO steps on the tiny model: parameters change, losses stay finite,
reward sources are logged, non-finite batches are skipped, resuming reproduces the next step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rllr.config import load_config
from rllr.errors import RllrError
from rllr.rewards import sources
from rllr.train.ppo import PPOConfig, run

TINY = ["prompts_per_step=2", "max_new_tokens=6", "minibatch_size=4", "lora.r=4", "lora.dropout=0.0",
        "max_prompts=8", "eval_limit=0", "forward_batch_size=8", "lr=1e-2"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from tests.conftest import make_tiny_lm, make_tiny_tokenizer

    tok = make_tiny_tokenizer()
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    make_tiny_lm(vocab_size=len(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def length_reward(inp: sources.ScoreInputs) -> torch.Tensor:
    """Deterministic, varied reward (the tiny model never writes a parseable answer)."""
    return torch.tensor([float(len(c) % 3) - 1.0 for c in inp.completions])


@pytest.fixture
def varied_reward(monkeypatch):
    monkeypatch.setitem(sources.REWARD_SOURCES, "judgement", length_reward)


def _cfg(tiny_dir, out, *extra):
    return load_config(PPOConfig, None, [f"model={tiny_dir}", f"out={out}", *TINY, *extra])


def _metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def _adapter(out, step, name="policy"):
    return load_file(str(Path(out) / "checkpoints" / f"step-{step}" / "adapters" / name / "adapter_model.safetensors"))


def _init_lora_b_nonzero(out):
    return any(v.abs().sum() > 0 for k, v in _adapter(out, 1).items() if "lora_B" in k)


def test_gae_step_updates_policy_and_critic(tiny_dir, tmp_path, varied_reward):
    out = tmp_path / "gae"
    summary = run(_cfg(tiny_dir, out, "algo=gae", "steps=1", "group_size=2"))
    m = _metrics(out)[0]
    for key in ("loss/policy", "loss/value", "ppo/clipfrac", "ppo/approx_kl", "ppo/explained_variance",
                "reward/judgement/mean", "reward/mix/mean", "train/skipped_nonfinite", "policy/entropy"):
        assert key in m, key
    assert 50 < m["memory/peak_rss_mib"] < 1e6  # MiB, not KiB or bytes
    assert m["rollout/accuracy"] == 0.0  # the tiny model never writes a parseable answer
    assert all(torch.isfinite(torch.tensor(m[k])) for k in ("loss/policy", "loss/value", "loss/total"))
    assert _init_lora_b_nonzero(out)  # LoRA B starts at 0: non-zero means the policy moved
    assert any(v.abs().sum() > 0 for k, v in _adapter(out, 1, "value").items() if "lora_B" in k)
    assert summary["skipped_nonfinite"] == 0 and (out / "policy" / "adapter_config.json").is_file()


def test_grpo_step_updates_policy(tiny_dir, tmp_path, varied_reward):
    out = tmp_path / "grpo"
    run(_cfg(tiny_dir, out, "algo=grpo", "steps=1", "group_size=4", "kl_placement=loss", "kl_estimator=k3"))
    m = _metrics(out)[0]
    assert torch.isfinite(torch.tensor(m["loss/policy"])) and "loss/kl" in m and "loss/value" not in m
    assert _init_lora_b_nonzero(out)


def test_rm_rewards_log_both_sources_and_the_mix(tiny_dir, tmp_path):
    from rllr.models.adapters import AdapterModel, LoraSettings
    from tests.conftest import make_tiny_lm

    rm = AdapterModel(make_tiny_lm(vocab_size=259 + 3 - 2))  # any base: only the adapter files are used
    paths = {}
    for name in ("rm_label", "rm_rationale"):
        rm.add_adapter(name, LoraSettings(r=4, dropout=0.0), head=True, head_init_std=1.0)
        paths[name] = rm.save_adapter(name, tmp_path / name)
    out = tmp_path / "rllr"
    run(_cfg(tiny_dir, out, "algo=gae", "steps=1", "value_init=rm_label", "rewards.mix=rllr", "rewards.lam=0.0",
             'rewards.sources={"rm_label": 1.0, "rm_rationale": 1.0}',
             f"rewards.rm_label={paths['rm_label']}", f"rewards.rm_rationale={paths['rm_rationale']}"))
    m = _metrics(out)[0]
    assert {"reward/rm_label/mean", "reward/rm_rationale/mean", "reward/mix/mean"} <= set(m)
    assert m["reward/mix/mean"] <= m["reward/rm_rationale/mean"] + 1e-6  # min(r_label, 0) + r_rationale
    assert torch.isfinite(torch.tensor(m["loss/value"]))


def test_nonfinite_rewards_are_skipped_then_stop(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sources.REWARD_SOURCES, "judgement",
                        lambda inp: torch.full((len(inp.completions),), float("nan")))
    out = tmp_path / "nan"
    run(_cfg(tiny_dir, out, "algo=grpo", "group_size=2", "steps=2", "max_nonfinite=5"))
    assert [m["train/skipped_nonfinite"] for m in _metrics(out)] == [1, 2]
    with pytest.raises(RllrError, match="non-finite"):
        run(_cfg(tiny_dir, tmp_path / "nan2", "algo=grpo", "group_size=2", "steps=1", "max_nonfinite=0"))


def test_resume_reproduces_the_next_step(tiny_dir, tmp_path, varied_reward):
    common = ("algo=gae", "group_size=2", "save_every=1", "adaptive_kl=true", "kl_target=0.1",
              "rewards.normalize=true")
    run(_cfg(tiny_dir, tmp_path / "full", "steps=2", *common))
    run(_cfg(tiny_dir, tmp_path / "cut", "steps=1", *common))
    run(_cfg(tiny_dir, tmp_path / "cut", "steps=2", "resume=true", *common))
    full, cut = _metrics(tmp_path / "full")[1], _metrics(tmp_path / "cut")[1]
    for key in ("loss/policy", "loss/value", "reward/mix/mean", "kl/coef"):
        assert cut[key] == pytest.approx(full[key], rel=1e-4, abs=1e-6), key
    a, b = _adapter(tmp_path / "full", 2), _adapter(tmp_path / "cut", 2)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_every_shipped_ppo_config_loads():
    files = sorted(Path(__file__).resolve().parents[2].glob("configs/ppo/*.yaml"))
    assert len(files) >= 8
    for f in files:
        load_config(PPOConfig, f)


def test_micro_batches_give_the_same_update(tiny_dir, tmp_path, varied_reward):
    """Gradient accumulation over micro-batches normalised by minibatch counts == one-shot minibatch."""
    common = ("algo=gae", "steps=1", "group_size=2", "minibatch_size=4")
    run(_cfg(tiny_dir, tmp_path / "whole", "micro_batch_size=null", *common))
    run(_cfg(tiny_dir, tmp_path / "micro", "micro_batch_size=1", *common))
    a, b = _metrics(tmp_path / "whole")[0], _metrics(tmp_path / "micro")[0]
    assert b["loss/policy"] == pytest.approx(a["loss/policy"], rel=1e-4, abs=1e-6)
    assert b["loss/value"] == pytest.approx(a["loss/value"], rel=1e-4, abs=1e-6)
    # CUDA sums in another order: a near-zero gradient can then move Adam's first step (~lr) a bit
    atol = 5e-5 if torch.cuda.is_available() else 1e-5
    for name in ("policy", "value"):
        wa, wb = _adapter(tmp_path / "whole", 1, name), _adapter(tmp_path / "micro", 1, name)
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], atol=atol, rtol=1e-4)


@pytest.mark.parametrize("value_init", ["fresh", "policy_head"])
def test_gradient_checkpointing_gives_the_same_update(tiny_dir, tmp_path, varied_reward, value_init):
    """Recomputed activations must use each role's own adapter: step 2 (LoRA B != 0) matches."""
    common = ("algo=gae", "steps=2", "save_every=1", "group_size=2", "minibatch_size=4", "micro_batch_size=2",
              f"value_init={value_init}")
    run(_cfg(tiny_dir, tmp_path / "plain", *common))
    run(_cfg(tiny_dir, tmp_path / "ckpt", "gradient_checkpointing=true", *common))
    a, b = _metrics(tmp_path / "plain")[1], _metrics(tmp_path / "ckpt")[1]
    assert b["loss/policy"] == pytest.approx(a["loss/policy"], rel=1e-4, abs=1e-6)
    assert b["loss/value"] == pytest.approx(a["loss/value"], rel=1e-4, abs=1e-6)
    for name in ("policy", "value") if value_init == "fresh" else ("policy",):
        wa, wb = _adapter(tmp_path / "plain", 2, name), _adapter(tmp_path / "ckpt", 2, name)
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-4)


def test_rollout_hits_parse_each_sample_against_its_prompt():
    from rllr.tasks.registry import get_task
    from rllr.train.ppo import rollout_hits

    task = get_task("sst2")
    pos, neg = task.load("test", limit=40)[0], None
    neg = next(ex for ex in task.load("test", limit=40) if ex.label != pos.label)
    texts = [f"{pos.label}</Judgement>", "garbage", f"{pos.label}</Judgement>", f"{neg.label}</Judgement>"]
    hits = rollout_hits([(task, pos), (task, neg)], texts, "judgement", 2)
    assert hits.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert rollout_hits([(get_task("squad_v1"), pos)], ["x"], "judgement", 1) is None


@pytest.mark.parametrize("algo_args", [("algo=grpo", "group_size=4", "kl_placement=loss", "kl_estimator=k3"),
                                       ("algo=gae", "group_size=2", "kl_placement=loss", "value_init=policy_head")])
def test_on_policy_step_skips_the_old_logprob_forward(tiny_dir, tmp_path, varied_reward, monkeypatch, algo_args):
    """One optimizer step per rollout: pi_old = the training forward's detached log-probs. Same
    update, KL metric and losses as with the separate no-grad forward, one forward fewer."""
    from rllr.train import rollout

    common = ("steps=2", "save_every=1", "minibatch_size=8", "micro_batch_size=2", *algo_args)
    calls: list[bool] = []
    real = rollout.score_rollout

    def spy(*a, need_old=True, **k):
        calls.append(need_old)
        return real(*a, need_old=need_old, **k)

    monkeypatch.setattr(rollout, "score_rollout", spy)
    run(_cfg(tiny_dir, tmp_path / "reuse", *common))
    assert calls == [False, False]
    monkeypatch.setattr(rollout, "score_rollout", lambda *a, need_old=True, **k: real(*a, need_old=True, **k))
    run(_cfg(tiny_dir, tmp_path / "forward", *common))
    a, b = _metrics(tmp_path / "forward"), _metrics(tmp_path / "reuse")
    for key in ("loss/policy", "loss/kl", "kl/seq_mean", "ppo/approx_kl", "ppo/clipfrac"):
        assert b[1][key] == pytest.approx(a[1][key], rel=1e-4, abs=1e-6), key
    assert a[1]["kl/seq_mean"] != 0.0  # step 2: the policy has moved away from the reference
    for k, v in _adapter(tmp_path / "forward", 2).items():
        torch.testing.assert_close(_adapter(tmp_path / "reuse", 2)[k], v, atol=1e-5, rtol=1e-4)


def test_kl_in_the_reward_keeps_the_old_logprob_forward(tiny_dir, tmp_path, varied_reward, monkeypatch):
    from rllr.train import rollout

    calls: list[bool] = []
    real = rollout.score_rollout
    monkeypatch.setattr(rollout, "score_rollout",
                        lambda *a, need_old=True, **k: calls.append(need_old) or real(*a, need_old=need_old, **k))
    run(_cfg(tiny_dir, tmp_path / "r", "algo=gae", "steps=1", "group_size=2", "minibatch_size=8",
             "kl_placement=reward", "kl_coef=0.1"))
    assert calls == [True]  # the per-token KL penalty is built before the update


def test_shared_prefix_gives_the_same_grpo_run(tiny_dir, tmp_path, varied_reward):
    """Prefilling each prompt once and packing its samples into one row changes cost, not the run:
    same samples, losses, KL and step-2 adapters as one (query + response) row per sample."""
    common = ("algo=grpo", "group_size=4", "steps=2", "save_every=1", "minibatch_size=8", "micro_batch_size=4",
              "kl_placement=loss", "kl_estimator=k3", "gradient_checkpointing=true")
    run(_cfg(tiny_dir, tmp_path / "rows", "shared_prefix=false", *common))
    run(_cfg(tiny_dir, tmp_path / "packed", *common))
    a, b = _metrics(tmp_path / "rows"), _metrics(tmp_path / "packed")
    for step in (0, 1):
        assert b[step]["response/length_mean"] == a[step]["response/length_mean"]
        for key in ("reward/mix/mean", "loss/policy", "loss/kl", "kl/seq_mean", "policy/entropy"):
            assert b[step][key] == pytest.approx(a[step][key], rel=1e-4, abs=1e-6), key
    for k, v in _adapter(tmp_path / "rows", 2).items():
        torch.testing.assert_close(_adapter(tmp_path / "packed", 2)[k], v, atol=1e-5, rtol=1e-4)


def test_trim_heap_runs_after_each_phase_and_role_backward(tiny_dir, tmp_path, varied_reward, monkeypatch):
    from rllr.train import memory

    calls = []
    monkeypatch.setattr(memory, "trim_heap", lambda: calls.append(1))
    common = ("algo=gae", "steps=2", "group_size=2", "minibatch_size=4", "micro_batch_size=2", "value_init=fresh")
    run(_cfg(tiny_dir, tmp_path / "off", "trim_heap=false", *common))
    baseline = len(calls)  # the per-step peak-memory resets trim too
    calls.clear()
    run(_cfg(tiny_dir, tmp_path / "on", *common))
    # per step: generation, 3 role forwards (policy, value, reference), reward scoring,
    # and 2 micro-batches x 2 roles (policy, value) of backward
    assert len(calls) - baseline == 2 * (1 + 3 + 1 + 4)


@pytest.mark.parametrize("env", [None, str(1 << 20)])
def test_mmap_threshold_default_yields_to_the_environment(tiny_dir, tmp_path, varied_reward, monkeypatch, env):
    from rllr.train import memory

    seen = []
    monkeypatch.setattr(memory, "set_mmap_threshold", seen.append)
    if env is None:
        monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", env)
    run(_cfg(tiny_dir, tmp_path / "r", "algo=gae", "steps=1", "group_size=2", "minibatch_size=4"))
    assert seen == ([4096 * 1024] if env is None else [])
