"""Rollout masks (EOS, padding) and the role forwards, on the tiny model."""

from __future__ import annotations

import pytest
import torch

from rllr.models.adapters import AdapterModel, LoraSettings
from rllr.train.rollout import (
    Rollout,
    _plain_causal,
    mask_after_eos,
    packed_response_hidden,
    response_hidden,
    response_logprobs,
    response_logprobs_entropy,
    sample,
    score_rollout,
)

EOS = 2


def test_mask_after_eos_by_hand():
    ids = torch.tensor([[5, EOS, 0, 0],     # EOS kept, pad after it dropped
                        [5, 6, 7, 8],       # no EOS: all real (cut by max_new_tokens)
                        [EOS, 0, 0, 0],     # immediate EOS: one real token
                        [5, EOS, EOS, EOS]])  # pad == EOS: only the first EOS is real
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask_after_eos(ids, [EOS]), expected)


def _model(tiny_lm):
    model = AdapterModel(tiny_lm)
    model.add_adapter("policy", LoraSettings(r=4, alpha=8, dropout=0.0))
    model.add_adapter("value", LoraSettings(r=4, alpha=8, dropout=0.0), head=True)
    torch.nn.init.normal_(model.peft.base_model.model.model.layers[0].self_attn.q_proj.lora_B["policy"].weight)
    return model.eval()


def test_sample_shapes_groups_and_padding(tiny_lm, tiny_tokenizer):
    model = _model(tiny_lm)
    torch.manual_seed(0)
    prompts = ["<|im_start|>user\nhello there, a long prompt<|im_end|>\n", "hi"]
    r = sample(model, tiny_tokenizer, prompts, group_size=3, max_new_tokens=6)
    B, T = r.response_ids.shape
    assert B == 6 and T <= 6 and r.query_ids.shape[0] == 6
    # group layout: rows [0, 3) share prompt 0, rows [3, 6) prompt 1; prompt 1 is left-padded
    assert torch.equal(r.query_ids[0], r.query_ids[2]) and not torch.equal(r.query_ids[2], r.query_ids[3])
    assert not r.query_mask[3, 0] and r.query_mask[3, -1]
    pad = tiny_tokenizer.pad_token_id
    assert (r.response_ids[~r.response_mask] == pad).all()
    ended = r.response_mask.sum(1) < T  # rows that stopped early end in an EOS
    last = r.response_mask.sum(1) - 1
    assert (r.response_ids[ended, last[ended]] == EOS).all()
    assert torch.equal(r.finished, r.response_ids[torch.arange(B), last] == EOS)
    assert len(r.texts) == 6 and r.attention_mask.shape == (6, r.query_ids.shape[1] + T)


def test_old_logprobs_match_an_unpadded_forward(tiny_lm, tiny_tokenizer):
    """Left padding and the response slice give the same log-probs as one plain full-logits pass."""
    model = _model(tiny_lm)
    torch.manual_seed(1)
    r = sample(model, tiny_tokenizer, ["a much longer prompt than the other", "short"], group_size=2,
               max_new_tokens=5)
    roles = score_rollout(model, r, temperature=0.7, need_ref=True, value_role=("value", "value"), chunk=3)
    assert roles.old_logprobs.shape == r.response_ids.shape == roles.old_values.shape
    for i in range(4):
        q = r.query_ids[i][r.query_mask[i]]
        y = r.response_ids[i][r.response_mask[i]]
        with model.using("policy"), torch.no_grad():
            logits = model.peft(input_ids=torch.cat([q, y])[None]).logits[0].float()
        expected = torch.log_softmax(logits[len(q) - 1:len(q) - 1 + len(y)] / 0.7, -1).gather(1, y[:, None])[:, 0]
        torch.testing.assert_close(roles.old_logprobs[i][r.response_mask[i]], expected, atol=2e-4, rtol=1e-4)
    # the policy adapter is non-zero, so the reference (adapters off) differs
    assert not torch.allclose(roles.old_logprobs, roles.ref_logprobs)


def _rollout(model, tokenizer, seed=2):
    torch.manual_seed(seed)
    prompts = ["a much longer prompt than the other one", "short", "mid-size prompt"]
    return sample(model, tokenizer, prompts, group_size=3, max_new_tokens=7)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_forward_matches_unpacked_rows_and_gradients(tiny_lm, tiny_tokenizer, attn):
    """One packed row per prompt gives each row's hidden states and LoRA gradients, also for
    shuffled rows and prompts with fewer rows than others (a partial group)."""
    tiny_lm.set_attn_implementation(attn)
    model = _model(tiny_lm)
    assert _plain_causal(model)
    r = _rollout(model, tiny_tokenizer)
    assert r.prompt_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    part = r.rows(torch.tensor([4, 0, 8, 2, 3]))           # prompt 0 twice, 1 twice, 2 once
    mask = part.response_mask
    model.train()
    model.set_trainable(["policy", "value"])
    results = []
    for shared in (False, True):
        model.zero_grad(set_to_none=True)
        if shared:
            with model.using("policy"):
                hidden = packed_response_hidden(model, part)
        else:
            hidden = response_hidden(model, "policy", part, shared_prefix=False)
        logprobs = response_logprobs(model, hidden, part.response_ids, 1.0)
        (logprobs * mask).sum().backward()
        grads = [p.grad.clone() for p in model.parameters_of(["policy"])]
        results.append((hidden.detach()[mask], grads))
        model.zero_grad(set_to_none=True)
    (h_rows, g_rows), (h_packed, g_packed) = results
    torch.testing.assert_close(h_packed, h_rows, atol=1e-5, rtol=1e-5)
    assert any(g.abs().sum() > 0 for g in g_rows)
    for a, b in zip(g_packed, g_rows):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_packed_scores_match_unpacked_for_every_role(tiny_lm, tiny_tokenizer):
    model = _model(tiny_lm)
    r = _rollout(model, tiny_tokenizer, seed=3)
    plain = Rollout(**{**r.__dict__, "prompt_index": None})     # no sharing known: row by row
    kw = {"temperature": 0.7, "need_ref": True, "value_role": ("value", "value"), "chunk": 4}
    packed, rows = score_rollout(model, r, **kw), score_rollout(model, plain, **kw)
    m = r.response_mask
    for a, b in [(packed.old_logprobs, rows.old_logprobs), (packed.ref_logprobs, rows.ref_logprobs),
                 (packed.old_values, rows.old_values)]:
        torch.testing.assert_close(a[m], b[m], atol=1e-5, rtol=1e-5)


def test_shared_prefix_generation_draws_the_same_samples(tiny_lm, tiny_tokenizer):
    """Prefilling each prompt once and repeating its KV cache changes cost, not the samples."""
    model = _model(tiny_lm)
    prompts = ["a much longer prompt than the other one", "short"]
    outs = []
    for shared in (True, False):
        torch.manual_seed(5)
        outs.append(sample(model, tiny_tokenizer, prompts, group_size=3, max_new_tokens=8, shared_prefix=shared))
    assert torch.equal(outs[0].response_ids, outs[1].response_ids)
    assert torch.equal(outs[0].query_ids, outs[1].query_ids) and outs[0].texts == outs[1].texts


def test_chunked_checkpointed_lm_head_matches_full_logits(tiny_lm, tiny_tokenizer):
    """Log-probs, entropy and the gradient into the hidden states do not depend on chunking."""
    from rllr.rl.logprobs import logprobs_from_logits
    from rllr.rl.losses import entropy_from_logits

    model = _model(tiny_lm)
    torch.manual_seed(0)
    hidden = torch.randn(3, 7, model.hidden_size, requires_grad=True)
    ids = torch.randint(0, 50, (3, 7))
    weights = torch.randn(3, 7)
    logits = model.logits_at(hidden)
    expected = logprobs_from_logits(logits, ids, temperature=0.7)
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), hidden)
    lp, ent = response_logprobs_entropy(model, hidden, ids, 0.7, entropy=True, chunk=4)  # 21 positions: 6 chunks
    (grad,) = torch.autograd.grad((lp * weights).sum(), hidden)
    torch.testing.assert_close(lp, expected)
    torch.testing.assert_close(grad, grad_expected)
    torch.testing.assert_close(ent, entropy_from_logits(logits.detach()))
    assert not ent.requires_grad
