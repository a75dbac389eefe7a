"""`rllr bench rl` end to end on the tiny model: every side runs and the ratio lines print."""

from __future__ import annotations

import argparse
import re

from rllr.bench.rl import main


def test_bench_prints_all_ratio_lines(tmp_path, capsys, monkeypatch):
    from tests.conftest import make_tiny_lm, make_tiny_tokenizer

    tok = make_tiny_tokenizer()
    model = tmp_path / "tiny"
    make_tiny_lm(vocab_size=len(tok)).save_pretrained(model)
    tok.save_pretrained(model)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = argparse.Namespace(model=str(model), random_init=None, steps=1, prompts=2, group=2, new_tokens=4,
                              checkpointing=True, set=["micro_batch_size=2"], sides=("rllr-grpo", "rllr-ppo", "copies-ppo", "base-infer"))
    assert main(args) == 0
    out = capsys.readouterr().out
    for side in args.sides:
        assert re.search(rf"^{side}\s+\d", out, re.MULTILINE), out
    assert re.search(r"^ppo 5-role footprint / base inference = \d+\.\d\d$", out, re.MULTILINE), out
    assert re.search(r"^ppo ratio time=\d+\.\d\d memory=\d+\.\d\d$", out, re.MULTILINE), out
