"""Bradley-Terry reward model on a tiny model: loss falls, held-out metrics, CLI eval, export."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from rllr.config import load_config
from rllr.train.reward_model import RMConfig, pair_metrics, run

REPO = Path(__file__).resolve().parents[2]


def _pairs(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        # a content-independent preference, so that a 2-layer random model can learn it fast
        gold, wrong = "yes, good", "no"
        rows.append({"prompt": f"Review #{i}: {'great' if i % 2 else 'awful'}. Sentiment?",
                     "chosen": f"The answer is: {gold}", "rejected": f"The answer is: {wrong}",
                     "task": "sst2" if i % 3 else "mrpc", "kind": "label"})
    rows.append({**rows[0], "rejected": rows[0]["chosen"]})  # identical: skipped and counted
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pair_metrics_hand_computed():
    # diffs: +1, -1, +2, +2 -> accuracy 3/4, mean margin (1 - 1 + 2 + 2) / 4 = 1.0
    res = pair_metrics(np.array([1.0, 0.0, 3.0, 2.0]), np.array([0.0, 1.0, 1.0, 0.0]), ["a", "a", "b", "b"],
                       n_resamples=200)
    assert res["all"]["accuracy"]["point"] == 0.75 and res["all"]["margin"]["point"] == 1.0
    assert res["a"]["accuracy"]["point"] == 0.5 and res["b"]["n"] == 2
    assert res["all"]["accuracy"]["low"] <= 0.75 <= res["all"]["accuracy"]["high"]


def test_bt_loss_decreases_and_cli_eval(tiny_model_dir, tmp_path):
    train = _pairs(tmp_path / "pairs.jsonl", 48)
    out = tmp_path / "rm"
    cfg = load_config(RMConfig, REPO / "configs/rm/label.yaml", [
        f"model={tiny_model_dir}", f"train_file={train}", "max_length=96", "optim.batch_size=8",
        "optim.micro_batch_size=8", "optim.max_steps=12", "optim.lr=1e-2", "lora.dropout=0",
        f"out={out}", "n_resamples=100"])
    summary = run(cfg)
    losses = [json.loads(line)["loss/rm"] for line in (out / "metrics.jsonl").read_text().splitlines()
              if "loss/rm" in line]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
    assert summary["skipped_identical"] == 1 and summary["eval_pairs"] == 10  # eval_fraction 0.2 of 48
    assert (out / "adapter" / "head.safetensors").is_file()
    assert {"all", "sst2"} <= set(summary["eval"])

    res = subprocess.run([sys.executable, "-m", "rllr.cli", "rm", "eval", "--model", str(tiny_model_dir),
                          "--adapter", str(out / "adapter"), "--pairs", str(train), "--max-length", "96",
                          "--n-resamples", "50", "--out", str(tmp_path / "eval.json")],
                         cwd=REPO, check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["skipped_identical"] == 1 and report["results"]["all"]["n"] == 48
    assert "pair acc" in res.stdout


def test_head_lr_moves_the_head_not_the_lora(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    train = _pairs(tmp_path / "pairs.jsonl", 16)
    out = tmp_path / "rm"
    run(load_config(RMConfig, REPO / "configs/rm/label.yaml", [
        f"model={tiny_model_dir}", f"train_file={train}", "max_length=96", "optim.batch_size=8",
        "optim.micro_batch_size=8", "optim.max_steps=2", "optim.warmup_ratio=0", "optim.lr=1e-12",
        "head_lr=1e-1", "lora.dropout=0", f"out={out}", "eval_fraction=0"]))
    head = load_file(str(out / "adapter" / "head.safetensors"))
    lora = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert head["weight"].abs().max() > 1e-2  # Adam: about head_lr per step
    assert max(v.abs().max() for k, v in lora.items() if "lora_B" in k) < 1e-9


def test_export_merged_loads_with_automodel(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from rllr.models.adapters import AdapterModel, LoraSettings
    from rllr.models.load import load_causal_lm

    model = AdapterModel(load_causal_lm(str(tiny_model_dir)))
    model.add_adapter("policy", LoraSettings(r=4))
    for n, p in model.peft.named_parameters():
        if "lora_B" in n:
            p.data.normal_()
    model.save_adapter("policy", tmp_path / "adapter")
    res = subprocess.run([sys.executable, "-m", "rllr.cli", "export", "--model", str(tiny_model_dir),
                          "--adapter", str(tmp_path / "adapter"), "--out", str(tmp_path / "merged"), "--merge"],
                         cwd=REPO, check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    x = torch.randint(3, 200, (1, 9))
    model.eval()
    with torch.no_grad(), model.using("policy"):
        want = model.peft(input_ids=x).logits
    assert torch.allclose(merged(input_ids=x).logits, want, atol=1e-4)
    assert (tmp_path / "merged" / "tokenizer.json").is_file()
