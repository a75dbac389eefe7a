"""Batched generation: left padding, order restored, EOS stops, seeded sampling."""

from __future__ import annotations

import pytest
import torch

from rllr.eval.generate import eos_token_ids, generate, generate_texts
from rllr.models.chat import render_prompt
from rllr.tasks.base import Prompt
from tests.conftest import make_tiny_lm
from tests.eval.conftest import make_scripted_lm, reply_text


def _prompts(tok, contents):
    return [render_prompt(tok, Prompt(({"role": "user", "content": c},))) for c in contents]


def test_order_restored_and_left_padded(tok):
    # reply = the prompt's own length in tokens, so each answer identifies its prompt
    def reply(ids):
        return tok(str(len(ids)), add_special_tokens=False)["input_ids"]

    model = make_scripted_lm(tok, reply)
    contents = ["a", "bbbbbbb", "cc", "dddddddddddd", "eee"]
    prompts = _prompts(tok, contents)
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    res = generate(model, tok, prompts, batch_size=2, max_new_tokens=8, progress=False)
    assert [t[0] for t in res.texts] == [str(n) for n in lengths]
    # batches are sorted longest first: the first batch holds the two longest prompts
    _, first_mask = model.prefill_calls[0]
    assert first_mask.sum(-1).tolist() == sorted(lengths, reverse=True)[:2]
    # left padding: the real tokens are right-aligned, padding (pad id) on the left
    last_ids, last_mask = model.prefill_calls[-1]
    assert last_mask[:, -1].all()
    assert (last_ids[last_mask == 0] == tok.pad_token_id).all()
    assert len(model.prefill_calls) == 3  # ceil(5 / 2)


def test_stops_at_eos_and_counts_tokens(tok):
    model = make_scripted_lm(tok, reply_text(tok, "yes"))
    res = generate(model, tok, _prompts(tok, ["q1", "q2"]), max_new_tokens=20, progress=False)
    assert res.texts == [["yes"], ["yes"]]
    # 3 byte tokens + the EOS token; the ids stop right after EOS (no padding)
    assert res.num_tokens == [[4], [4]]
    assert res.token_ids[0][0][-1] == tok.eos_token_id


def test_generation_config_eos_ids_also_stop(tok):
    stop = tok.convert_tokens_to_ids("!")
    model = make_scripted_lm(tok, reply_text(tok, "ok"), eos_id=stop)  # ends with "!" not EOS
    model.generation_config.eos_token_id = [tok.eos_token_id, stop]
    assert eos_token_ids(model, tok) == [tok.eos_token_id, stop]
    res = generate(model, tok, _prompts(tok, ["q"]), max_new_tokens=20, progress=False)
    assert res.texts == [["ok!"]] and res.num_tokens == [[3]]


def test_max_new_tokens_truncates(tok):
    model = make_scripted_lm(tok, reply_text(tok, "abcdefgh"))
    assert generate_texts(model, tok, _prompts(tok, ["q"]), max_new_tokens=3, progress=False) == [["abc"]]


def test_stop_strings(tok):
    model = make_scripted_lm(tok, reply_text(tok, "abc. def"))
    res = generate(model, tok, _prompts(tok, ["q"]), max_new_tokens=20, stop_strings=["."],
                   progress=False)
    assert res.texts == [["abc."]]


def test_batched_greedy_equals_one_at_a_time(tok):
    # a real random Llama: padding must not change greedy outputs
    model = make_tiny_lm(vocab_size=len(tok))
    prompts = _prompts(tok, ["hi", "a much longer prompt here", "mid size", "x"])
    batched = generate(model, tok, prompts, batch_size=4, max_new_tokens=6, progress=False)
    single = generate(model, tok, prompts, batch_size=1, max_new_tokens=6, progress=False)
    assert batched.token_ids == single.token_ids


def test_seeded_sampling_is_deterministic_and_leaves_global_rng(tok):
    model = make_tiny_lm(vocab_size=len(tok))
    prompts = _prompts(tok, ["one", "two three"])
    kw = {"do_sample": True, "num_return_sequences": 3, "max_new_tokens": 6, "progress": False}
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = generate(model, tok, prompts, seed=7, **kw)
    assert torch.equal(torch.rand(1), expected_next)  # fork_rng: caller's RNG untouched
    b = generate(model, tok, prompts, seed=7, **kw)
    c = generate(model, tok, prompts, seed=8, **kw)
    assert a == b
    assert a.token_ids != c.token_ids
    assert [len(t) for t in a.texts] == [3, 3]


def test_uniform_logits_sample_the_whole_vocabulary(tok):
    # zero output weights -> uniform next-token distribution; with top_k=0 (our default)
    # sampling must reach far more than transformers' default top_k=50 tokens
    model = make_tiny_lm(vocab_size=len(tok), hidden=32)
    model.config.tie_word_embeddings = False
    model.lm_head = torch.nn.Linear(32, len(tok), bias=False)
    torch.nn.init.zeros_(model.lm_head.weight)
    model.generation_config.eos_token_id = None
    eos = tok.eos_token_id
    res = generate(model, tok, _prompts(tok, ["q"]), do_sample=True, num_return_sequences=16,
                   max_new_tokens=16, progress=False, seed=0)
    seen = {t for seq in res.token_ids[0] for t in seq if t != eos}
    assert len(seen) > 100  # 256 draws from 259 tokens: ~160 distinct expected


def test_argument_checks(tok):
    model = make_tiny_lm(vocab_size=len(tok))
    with pytest.raises(ValueError):
        generate(model, tok, ["x"], num_return_sequences=2)  # greedy copies
    with pytest.raises(ValueError):
        generate(model, tok, ["x"], do_sample=True, temperature=0.0)
    assert generate(model, tok, []).texts == []
