"""Sliding-window perplexity against hand-computed per-chunk NLLs on a tiny random Llama."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rllr.eval.perplexity import Window, sliding_window_nll, sliding_windows, text_perplexity
from tests.conftest import make_tiny_lm


def _chunk_nll(model, ids: torch.Tensor) -> float:
    """Summed NLL of ids[1:] given their prefix, computed directly (no cache, full logits)."""
    with torch.no_grad():
        logits = model(input_ids=ids[None]).logits[0]  # [L, V]
    return float(F.cross_entropy(logits[:-1], ids[1:], reduction="sum"))


def test_windows_follow_the_recipe():
    # T=10, window 4, stride 2: windows [0,4) [2,6) [4,8) [6,10); first scores 3 (no context
    # for token 0), the rest score the 2 tokens past the previous end
    assert sliding_windows(10, 4, 2) == [Window(0, 4, 3), Window(2, 6, 2), Window(4, 8, 2),
                                         Window(6, 10, 2)]
    # stride == window: independent chunks, each loses its first token
    assert sliding_windows(10, 4, 4) == [Window(0, 4, 3), Window(4, 8, 3), Window(8, 10, 1)]
    # a last chunk of a single token has nothing to score
    assert sliding_windows(9, 4, 4) == [Window(0, 4, 3), Window(4, 8, 3)]
    # every token but the first is scored once when stride < window
    assert sum(w.num_targets for w in sliding_windows(1000, 64, 16)) == 999
    with pytest.raises(ValueError):
        sliding_windows(10, 4, 5)


def test_stride_equal_window_matches_per_chunk_by_hand():
    torch.manual_seed(0)
    model = make_tiny_lm(vocab_size=50)
    ids = torch.randint(3, 50, (23,))
    res = sliding_window_nll(model, ids, max_length=8, stride=8)
    chunks = [ids[0:8], ids[8:16], ids[16:23]]
    expected = sum(_chunk_nll(model, c) for c in chunks)
    assert res.num_tokens == 7 + 7 + 6
    assert res.num_windows == 3
    assert res.nll_sum == pytest.approx(expected, rel=1e-5)
    assert res.ppl == pytest.approx(math.exp(expected / 20), rel=1e-5)


def test_window_covering_everything_is_full_context_nll():
    torch.manual_seed(1)
    model = make_tiny_lm(vocab_size=50)
    ids = torch.randint(3, 50, (17,))
    res = sliding_window_nll(model, ids, max_length=64, stride=32)
    assert res.num_tokens == 16
    assert res.nll_sum == pytest.approx(_chunk_nll(model, ids), rel=1e-5)


def test_overlapping_windows_score_each_new_token_with_context():
    torch.manual_seed(2)
    model = make_tiny_lm(vocab_size=50)
    ids = torch.randint(3, 50, (12,))
    res = sliding_window_nll(model, ids, max_length=8, stride=4)
    # windows [0,8) scores tokens 1..7; [4,12) scores tokens 8..11 with context from 4
    with torch.no_grad():
        logits_a = model(input_ids=ids[None, 0:8]).logits[0]
        logits_b = model(input_ids=ids[None, 4:12]).logits[0]
    by_hand = (F.cross_entropy(logits_a[:-1], ids[1:8], reduction="sum")
               + F.cross_entropy(logits_b[3:-1], ids[8:12], reduction="sum"))
    assert res.num_tokens == 11
    assert res.nll_sum == pytest.approx(float(by_hand), rel=1e-5)


def test_batched_windows_match_unbatched():
    torch.manual_seed(3)
    model = make_tiny_lm(vocab_size=50)
    ids = torch.randint(3, 50, (70,))
    one = sliding_window_nll(model, ids, max_length=16, stride=8, batch_size=1)
    many = sliding_window_nll(model, ids, max_length=16, stride=8, batch_size=4)
    assert many.num_tokens == one.num_tokens == 69
    assert many.nll_sum == pytest.approx(one.nll_sum, rel=1e-5)


def test_uniform_model_has_vocab_size_perplexity(tiny_tokenizer):
    model = make_tiny_lm(vocab_size=len(tiny_tokenizer), hidden=32)
    model.config.tie_word_embeddings = False
    model.lm_head = torch.nn.Linear(32, len(tiny_tokenizer), bias=False)
    torch.nn.init.zeros_(model.lm_head.weight)  # uniform next-token distribution
    res = text_perplexity(model, tiny_tokenizer, "any text at all, really.", max_length=8,
                          stride=4, progress=False)
    assert res.ppl == pytest.approx(len(tiny_tokenizer), rel=1e-4)
