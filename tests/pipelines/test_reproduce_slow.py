"""End to end: `rllr reproduce rllr` at the tiny size with the real default model.

Skipped unless the default model is cached and every stage module exists. The second run
must do no training: every stage is reported cached. About 4 minutes on an idle 2-core CPU
(the first run; the second takes seconds); much longer on a shared machine.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cached_default_model

ROOT = Path(__file__).resolve().parents[2]
STAGE_MODULES = ("rllr.data.rationales", "rllr.data.make_pairs", "rllr.train.reward_model",
                 "rllr.train.ppo", "rllr.teacher.judge", "rllr.eval.evaluate", "rllr.train.sft")


def _reproduce(paper, config, out, timeout):
    cmd = [sys.executable, "-m", "rllr.cli", "reproduce", paper, "--config",
           str(ROOT / "configs/reproduce" / config), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


@pytest.mark.slow
def test_reproduce_rllr_tiny_twice(tmp_path):
    if cached_default_model() is None:
        pytest.skip("default model not cached: run `rllr models fetch smollm2-135m-instruct`")
    missing = [m for m in STAGE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"stage modules not available yet: {', '.join(missing)}")
    first = _reproduce("rllr", "tiny.yaml", tmp_path / "run", 3600)
    assert first.returncode == 0, first.stderr[-3000:]
    report = Path(first.stdout.strip().splitlines()[-1])
    text = report.read_text()
    for method in ("SFT", "SFT w. rat.", "RLHF", "RLLR", "RLLR-MIXED"):
        assert f"| {method} |" in text
    assert "| label RM |" in text and "| rationale RM |" in text and " [" in text
    for method in ("RLHF", "RLLR", "RLLR-MIXED"):  # Figure 4, both judge orders
        assert f"| {method} vs SFT w. rat. |" in text
    assert "order-inconsistent" in text
    assert (report.parent / "report.html").is_file()

    second = _reproduce("rllr", "tiny.yaml", tmp_path / "run", 600)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stderr
    assert "running" not in log and "resuming" not in log
    assert log.count(" cached ") >= 13


@pytest.mark.slow
def test_reproduce_glue_tiny_twice(tmp_path):
    if cached_default_model() is None:
        pytest.skip("default model not cached: run `rllr models fetch smollm2-135m-instruct`")
    first = _reproduce("glue", "glue-tiny.yaml", tmp_path / "run", 3600)
    assert first.returncode == 0, first.stderr[-3000:]
    report = Path(first.stdout.strip().splitlines()[-1])
    text = report.read_text()
    for row in ("Zero-shot prompting", "Few-shot prompting", "MiniLM-L6 fine-tuned", "SFT-ST", "PPO-ST", "GRPO-ST"):
        assert f"| {row} |" in text
    for section in ("zero-shot transfer", "Amazon 1-5 stars", "WikiText-2 perplexity", "PPO vs GRPO"):
        assert section in text
    assert "| ppo/sst2 |" in text and "| grpo/all |" in text and (report.parent / "report.html").is_file()

    second = _reproduce("glue", "glue-tiny.yaml", tmp_path / "run", 600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "running" not in second.stderr and second.stderr.count(" cached ") >= 11
