"""SFT end to end on a tiny model: CLI smoke, SIGKILL mid-save + resume, 2-process equivalence."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rllr.train.checkpoint import latest_checkpoint
from tests.train.toy import write_toy_data

REPO = Path(__file__).resolve().parents[2]


# `rllr sft` that SIGKILLs itself halfway through saving step 4 (adapters written, optimizer
# state and COMPLETE marker not yet): the first torch.save into the step-4 temp folder.
KILL_MID_SAVE = """
import os, signal, sys, torch
_save = torch.save
def save(obj, f, *a, **k):
    if ".tmp-step-4-" in str(f):
        os.kill(os.getpid(), signal.SIGKILL)
    return _save(obj, f, *a, **k)
torch.save = save
from rllr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _sft(args, launcher=(), kill_mid_save=False):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "CUDA_VISIBLE_DEVICES": ""}  # CPU ranks on a GPU host too (2 ranks on 1 GPU: NCCL refuses)
    cmd = [*launcher] if launcher else [sys.executable]
    cmd += ["-c", KILL_MID_SAVE] if kill_mid_save else ["-m", "rllr.cli"]
    cmd += ["sft", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, check=False, capture_output=True, text=True, timeout=240)


def _inprocess(args):
    """Run `rllr sft` in this process (skips ~5 s of imports per run)."""
    from rllr.cli import main

    assert main(["sft", *args]) == 0


def _common(model_dir, data_dir, out, steps=6):
    return [f"model={model_dir}", f"data.data_dir={data_dir}", "data.max_length=96",
            "optim.batch_size=4", "optim.micro_batch_size=2", f"optim.max_steps={steps}",
            f"out={out}", "eval.enabled=false"]


def _losses(run):
    rows = map(json.loads, (Path(run) / "metrics.jsonl").read_text().splitlines())
    return [r["loss/sft"] for r in rows if "loss/sft" in r]


@pytest.fixture
def toy_data(tmp_path):
    return write_toy_data(tmp_path / "data")


def test_cli_smoke_with_eval(tiny_model_dir, toy_data, tmp_path):
    out = tmp_path / "run"
    args = _common(tiny_model_dir, toy_data, out, steps=3)[:-1] + ["eval.limit=4", "eval.max_new_tokens=3"]
    res = _sft(args)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["truncated_prompts"] == 24  # every toy prompt is > 96 byte tokens, all counted
    assert "truncated from the left" in res.stderr
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "eval.json").is_file()
    assert 0.0 <= summary["eval"]["sst2"]["metrics"]["accuracy"] <= 1.0
    assert all(math.isfinite(v) for v in _losses(out))


def test_bad_config_is_one_line_error(tmp_path):
    res = _sft(["optim.lr=-1", f"out={tmp_path}/x"])
    assert res.returncode == 2 and "optim.lr must be positive" in res.stderr
    assert "Traceback" not in res.stderr


def test_sigkill_mid_save_then_resume_matches_uninterrupted(tiny_model_dir, toy_data, tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    _inprocess(_common(tiny_model_dir, toy_data, ref) + ["save_every=2"])
    killed = _sft(_common(tiny_model_dir, toy_data, run) + ["save_every=2"], kill_mid_save=True)
    assert killed.returncode == -9
    assert latest_checkpoint(run).name == "step-2"  # the partial step-4 save is ignored
    assert any(p.name.startswith(".tmp-step-4") for p in (run / "checkpoints").iterdir())
    _inprocess(_common(tiny_model_dir, toy_data, run) + ["save_every=2", "--resume"])
    a = load_file(str(ref / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit-identical (dropout on)
    assert _losses(run)[-4:] == _losses(ref)[-4:]


def test_two_processes_match_one(tiny_model_dir, toy_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    extra = ["lora.dropout=0"]  # dropout masks differ between a rank and the single process
    _inprocess(_common(tiny_model_dir, toy_data, one, steps=4) + extra)
    launcher = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file",
                str(REPO / "configs/accelerate/ddp_cpu.yaml"), "--main_process_port", "29561"]
    args = _common(tiny_model_dir, toy_data, two, steps=4) + extra + ["optim.micro_batch_size=1"]
    res = _sft(args, launcher=launcher)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((two / "summary.json").read_text())["processes"] == 2
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-5, abs=1e-6)
    a = load_file(str(one / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(two / "adapter" / "adapter_model.safetensors"))
    assert all(((a[k] - b[k]).abs().max() < 1e-5) for k in a)


def test_gradient_checkpointing_keeps_the_losses(tiny_model_dir, toy_data, tmp_path):
    """Recompute (RNG state restored, so even LoRA dropout matches) gives the same training."""
    _inprocess(_common(tiny_model_dir, toy_data, tmp_path / "plain", steps=3))
    _inprocess(_common(tiny_model_dir, toy_data, tmp_path / "ckpt", steps=3) + ["gradient_checkpointing=true"])
    assert _losses(tmp_path / "ckpt") == pytest.approx(_losses(tmp_path / "plain"), rel=1e-5)
