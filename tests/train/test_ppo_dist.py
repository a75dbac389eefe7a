"""Two CPU processes under `accelerate launch` complete a PPO step (gradients all-reduced)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_two_process_grpo_step(tmp_path):
    from tests.conftest import make_tiny_lm, make_tiny_tokenizer

    tok = make_tiny_tokenizer()
    model_dir = tmp_path / "tiny"
    make_tiny_lm(vocab_size=len(tok)).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.is_file():
        pytest.skip("accelerate launcher not installed")
    out = tmp_path / "run"
    config = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "ddp_cpu.yaml"
    cmd = [str(accelerate), "launch", "--config_file", str(config), "-m", "rllr.cli", "ppo", "--algo", "grpo",
           f"model={model_dir}", f"out={out}", "steps=1", "group_size=2", "prompts_per_step=1",
           "max_new_tokens=4", "minibatch_size=2", "lora.r=4", "max_prompts=4", "eval_limit=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # CPU ranks on a GPU host too (2 ranks on 1 GPU: NCCL refuses)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and "reward/mix/mean" in rows[0] and "loss/policy" in rows[0]
    assert rows[0]["train/num_processes"] == 2  # really two ranks (torchrun + gloo), not one
    assert (out / "checkpoints" / "step-1" / "COMPLETE").is_file()
