"""End-to-end evaluation on the bundled samples with tiny models, and `rllr eval` via subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rllr.errors import ConfigError
from rllr.eval.evaluate import EvalConfig, build_prompts, draw_demos, evaluate, flat_metrics
from rllr.tasks.registry import get_task
from tests.conftest import cached_default_model, make_tiny_lm
from tests.eval.conftest import make_scripted_lm, reply_text

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: int = 600, threads: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run([sys.executable, "-m", "rllr.cli", "eval", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_always_positive_model_scores_the_positive_share(tok, tmp_path):
    task = get_task("sst2")
    examples = task.load("test", limit=12)
    share = sum(ex.label == "positive" for ex in examples) / 12
    model = make_scripted_lm(tok, reply_text(tok, "The answer is: positive"))
    res = evaluate(model, tok, [task], limit=12, batch_size=5, out_dir=tmp_path, progress=False,
                   print_table=False)["sst2"]
    assert res["metrics"]["accuracy"] == pytest.approx(share)
    assert res["format_error_rate"] == 0.0
    assert res["n"] == 12 and res["primary_metric"] == "accuracy"
    ci = res["ci"]["accuracy"]
    assert ci["point"] == pytest.approx(share) and ci["low"] <= ci["point"] <= ci["high"]
    assert res["ci_method"] == "bootstrap over examples"
    # files: metrics.json equals the result; one JSONL row per example
    assert json.loads((tmp_path / "metrics.json").read_text())["sst2"]["n"] == 12
    rows = [json.loads(x) for x in (tmp_path / "predictions" / "sst2.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    assert rows[0]["completions"] == ["The answer is: positive"]
    assert rows[0]["predictions"] == ["positive"]
    assert rows[0]["correct"] == [examples[0].label == "positive"]
    assert rows[0]["uid"] == examples[0].uid and "<|im_start|>assistant" in rows[0]["prompt"]
    assert flat_metrics({"sst2": res})["eval/sst2/accuracy"] == pytest.approx(share)


def test_judgement_format_and_format_errors(tok):
    task = get_task("sst2")
    model = make_scripted_lm(tok, reply_text(tok, "negative</Judgement>"))
    res = evaluate(model, tok, [task], fmt="judgement", limit=6, progress=False, print_table=False)
    assert res["sst2"]["format_error_rate"] == 0.0
    broken = make_scripted_lm(tok, reply_text(tok, "I am not sure"))
    res = evaluate(broken, tok, [task], fmt="judgement", limit=6, progress=False, print_table=False)
    assert res["sst2"]["format_error_rate"] == 1.0
    assert res["sst2"]["metrics"]["accuracy"] == 0.0


def test_demos_are_seeded_per_example_and_skip_identical_text(tok):
    task = get_task("sst2")
    test = task.load("test", limit=5)
    pool = task.load("train")
    a = [draw_demos(ex, pool, 2, seed=0) for ex in test]
    assert all(len(d) == 2 for d in a)
    assert a == [draw_demos(ex, pool, 2, seed=0) for ex in test]  # deterministic
    assert a[:3] == [draw_demos(ex, pool, 2, seed=0) for ex in test[:3]]  # independent of limit
    assert a != [draw_demos(ex, pool, 2, seed=1) for ex in test]
    # an example whose text is in the pool never gets itself as a demo
    clone_pool = [test[0]] * 3 + pool[:3]
    assert test[0] not in draw_demos(test[0], clone_pool, 3, seed=0)
    prompts = build_prompts(task, test[:1], tok, fmt="rllr", shots=2, demo_pool=pool, seed=0)
    assert prompts[0].count("<|im_start|>user") == 3
    assert prompts[0].count("The answer is:") == 2


def test_sampled_sets_ci_and_perplexity_task(tok, tmp_path):
    model = make_tiny_lm(vocab_size=len(tok))
    tasks = [get_task("sst2"), get_task("wikitext2")]
    res = evaluate(model, tok, tasks, samples=3, limit=1, max_new_tokens=4, out_dir=tmp_path,
                   ppl_max_length=512, ppl_stride=256, batch_size=64, progress=False,
                   print_table=False)
    s = res["sst2"]
    assert s["ci_method"] == "percentiles over 3 sampled prediction sets" and s["n"] == 1
    assert s["ci"]["accuracy"]["low"] <= s["metrics"]["accuracy"] <= s["ci"]["accuracy"]["high"]
    row = json.loads((tmp_path / "predictions" / "sst2.jsonl").read_text().splitlines()[0])
    assert len(row["completions"]) == len(row["predictions"]) == len(row["correct"]) == 3
    w = res["wikitext2"]
    assert w["primary_metric"] == "perplexity" and w["metrics"]["perplexity"] > 1.0
    assert w["metrics"]["num_tokens"] > 0 and w["n"] == 1 and w["stride"] == 256


def test_config_checks():
    assert EvalConfig().tasks == ("sst2", "mnli")
    with pytest.raises(ConfigError):
        EvalConfig(shots=-1)
    with pytest.raises(ConfigError):
        EvalConfig(temperature=0.0)


def test_cli_with_tiny_model_folder(tiny_model_dir, tmp_path):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("tasks: [sst2]\nlimit: 8\nshots: 3\n")
    out = tmp_path / "run"
    proc = _cli("--model", str(tiny_model_dir), "--config", str(cfg), "--shots", "1",
                "--max-new-tokens", "3", "--out", str(out), "limit=4", threads=1)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == str(out / "metrics.json")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sst2"]["n"] == 4 and metrics["sst2"]["shots"] == 1  # override > flag > YAML
    assert any(line.startswith("sst2") for line in lines)
    for name in ("config.yaml", "versions.json", "git.txt", "predictions/sst2.jsonl"):
        assert (out / name).is_file()


def test_cli_user_errors_are_one_line(tmp_path):
    proc = _cli("--tasks", "no_such_task", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "unknown task 'no_such_task'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(cached_default_model() is None, reason="default model not cached")
def test_cli_real_default_model_sst2(tmp_path):
    out = tmp_path / "run"
    proc = _cli("--tasks", "sst2", "--limit", "16", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == str(out / "metrics.json")
    header = next(i for i, line in enumerate(lines) if line.startswith("task"))
    assert lines[header].split()[:3] == ["task", "metric", "value"]
    assert lines[header + 2].startswith("sst2") and "accuracy" in lines[header + 2]
    res = json.loads((out / "metrics.json").read_text())["sst2"]
    assert res["n"] == 16
    acc = res["metrics"]["accuracy"]
    # greedy is deterministic: 0.5625 on these 16 rows with the current parser (measured); the
    # bound leaves room for parser changes but catches a broken prompt or parse (~0 or 1.0)
    assert 0.4 <= acc < 1.0
    assert res["ci"]["accuracy"]["low"] <= acc <= res["ci"]["accuracy"]["high"]
    assert res["format_error_rate"] < 0.5


def test_adapter_is_loaded_and_merged(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from rllr.commands.eval import load_model
    from rllr.errors import ModelError
    from rllr.models.load import load_causal_lm

    peft = get_peft_model(load_causal_lm(str(tiny_model_dir)),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    x = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        expected = peft(input_ids=x).logits
    model, _ = load_model(EvalConfig(model=str(tiny_model_dir), adapter=str(tmp_path / "adapter")))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=x).logits, expected, atol=1e-5)
    assert not hasattr(model, "peft_config")  # merged into a plain model
    with pytest.raises(ModelError):
        load_model(EvalConfig(model=str(tiny_model_dir), adapter=str(tmp_path)))


def test_cli_several_shots_write_one_folder_each(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    proc = _cli("--model", str(tiny_model_dir), "--tasks", "sst2", "--limit", "2", "--shots", "0,1",
                "--max-new-tokens", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for k in (0, 1):
        metrics = json.loads((out / f"shots-{k}" / "metrics.json").read_text())
        assert metrics["sst2"]["shots"] == k
    assert proc.stdout.strip().splitlines()[-1].endswith("shots-1/metrics.json")


def test_cli_bad_shots_is_one_line_error(tiny_model_dir):
    proc = _cli("--model", str(tiny_model_dir), "--tasks", "sst2", "--shots", "two")
    assert proc.returncode == 2 and "--shots 'two'" in proc.stderr
    assert "Traceback" not in proc.stderr
