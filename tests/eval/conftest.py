"""A scripted tiny Llama for generation tests: it answers each prompt with a chosen reply.

`ScriptedLM` runs the real (random) Llama forward pass, so `model.generate`, the KV cache
and left padding are exercised as usual, then overwrites the last-position logits so the
next token is the next token of the reply `reply_fn(prompt_ids)`, then EOS.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from transformers import LlamaForCausalLM

from tests.conftest import make_tiny_lm, make_tiny_tokenizer

ReplyFn = Callable[[list[int]], list[int]]


class ScriptedLM(LlamaForCausalLM):
    """A tiny Llama whose greedy output for a prompt is `reply_fn(prompt_ids)` + EOS."""

    def __init__(self, config, reply_fn: ReplyFn, eos_id: int) -> None:
        super().__init__(config)
        self.reply_fn = reply_fn
        self.eos_id = eos_id
        self._replies: list[list[int]] = []
        self._step = 0
        self.prefill_calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        if input_ids.shape[1] > 1:  # prefill: one call with the whole (left-padded) prompt
            width = input_ids.shape[1]
            if attention_mask is None:  # transformers drops an all-ones mask
                attention_mask = torch.ones_like(input_ids)
            mask = attention_mask[:, :width].bool()
            self.prefill_calls.append((input_ids.clone(), attention_mask[:, :width].clone()))
            self._replies = [self.reply_fn(row[m].tolist()) for row, m in zip(input_ids, mask)]
            self._step = 0
        logits = torch.full_like(out.logits, -1e4)
        for b, reply in enumerate(self._replies):
            tok = reply[self._step] if self._step < len(reply) else self.eos_id
            logits[b, -1, tok] = 0.0
        self._step += 1
        out.logits = logits
        return out


def make_scripted_lm(tokenizer, reply_fn: ReplyFn, eos_id: int | None = None) -> ScriptedLM:
    cfg = make_tiny_lm(vocab_size=len(tokenizer)).config
    torch.manual_seed(0)
    return ScriptedLM(cfg, reply_fn, tokenizer.eos_token_id if eos_id is None else eos_id).eval()


def reply_text(tokenizer, text: str) -> ReplyFn:
    """A reply function that always answers `text`."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return lambda prompt_ids: list(ids)


@pytest.fixture
def tok():
    return make_tiny_tokenizer()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run faster on one thread, and far faster when the cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
