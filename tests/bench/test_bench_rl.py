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
                              checkpointing=True, micro_batch=2, mmap_threshold_kib=128, set=None, sides=("rllr-grpo", "rllr-ppo", "copies-ppo", "base-infer"))
    assert main(args) == 0
    out = capsys.readouterr().out
    for side in args.sides:
        assert re.search(rf"^{side}\s+\d", out, re.MULTILINE), out
    assert re.search(r"^ppo 5-role footprint / base inference = \d+\.\d\d$", out, re.MULTILINE), out
    assert re.search(r"^ppo ratio time=\d+\.\d\d memory=\d+\.\d\d$", out, re.MULTILINE), out


def test_random_init_model_and_micro_batch_check(tmp_path, capsys):
    """`--random-init` builds a Qwen2-style model around the given tokenizer (the GPU path)."""
    import pytest

    from rllr.errors import RllrError
    from tests.conftest import make_tiny_lm, make_tiny_tokenizer

    tok, tok_dir = make_tiny_tokenizer(), tmp_path / "tok"  # a model folder: only its tokenizer is used
    make_tiny_lm(vocab_size=len(tok)).save_pretrained(tok_dir)
    tok.save_pretrained(tok_dir)
    args = argparse.Namespace(model=str(tok_dir), random_init="qwen2-tiny", steps=1, prompts=2, group=2,
                              new_tokens=4, checkpointing=True, micro_batch=2, mmap_threshold_kib=128, set=None, sides=("base-infer",))
    assert main(args) == 0
    assert re.search(r"^base-infer\s+\d", capsys.readouterr().out, re.MULTILINE)
    with pytest.raises(RllrError, match="--micro-batch 3 must divide"):
        main(argparse.Namespace(**{**vars(args), "micro_batch": 3}))
