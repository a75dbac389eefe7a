"""Rollout masks (EOS, padding) and the role forwards, on the tiny model."""

from __future__ import annotations

import torch

from rllr.models.adapters import AdapterModel, LoraSettings
from rllr.train.rollout import mask_after_eos, sample, score_rollout

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
