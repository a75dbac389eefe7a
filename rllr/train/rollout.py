"""Rollouts: sample completions from the `policy` adapter, then one forward per role.

Shapes: P = prompts, G = group size (samples per prompt), B = P * G, Lq = prompt tokens
(left-padded), T = response tokens (right-padded), L = Lq + T, H = hidden size.
Rows are grouped by prompt: rows [k*G, (k+1)*G) are prompt k's samples (as
`rl.advantages` expects), which is what `generate(num_return_sequences=G)` returns.

Every role runs on the same `AdapterModel` by switching adapters; no copy is made:

    old_logprobs   adapter `policy`              LM head on the T response positions only
    ref_logprobs   all adapters off (reference)  idem
    values         adapter `value` + head        per response token (or the policy's head)
    RM scores      `rm_label` / `rm_rationale`   head at the last real token

The hidden state at position Lq - 1 + t predicts response token t, so logits and values
are taken from the slice [Lq - 1, Lq - 1 + T): the vocabulary-sized tensor never
exists for prompt tokens. Left padding shifts all real positions by the same amount,
which rotary embeddings do not see (attention depends on relative positions only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rllr.eval.generate import eos_token_ids
from rllr.rl.logprobs import logprobs_from_logits


@dataclass(frozen=True)
class Rollout:
    """Sampled completions for B = P * G rows (see the module docstring for shapes)."""

    query_ids: Tensor
    """`[B, Lq]` prompt ids, left-padded with the pad id."""
    query_mask: Tensor
    """`[B, Lq]` bool, True = real prompt token."""
    response_ids: Tensor
    """`[B, T]` sampled ids, right-padded with the pad id after the first EOS."""
    response_mask: Tensor
    """`[B, T]` bool, True = real response token, up to and including the first EOS."""
    texts: list[str]
    """B completions decoded without special tokens."""
    finished: Tensor
    """`[B]` bool, True = the row ended with an EOS (False = cut at max_new_tokens)."""
    group_size: int
    """G: consecutive rows that share a prompt."""

    @property
    def input_ids(self) -> Tensor:
        """`[B, L]` prompt + response ids."""
        return torch.cat([self.query_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> Tensor:
        """`[B, L]` long, 1 = real token (prompt or response)."""
        return torch.cat([self.query_mask, self.response_mask], dim=1).long()

    def rows(self, index: Tensor) -> Rollout:
        """The rollout restricted to the rows `index` `[b]` (group layout not preserved)."""
        idx = index.tolist()
        return Rollout(self.query_ids[index], self.query_mask[index], self.response_ids[index],
                       self.response_mask[index], [self.texts[i] for i in idx], self.finished[index], 1)


def mask_after_eos(response_ids: Tensor, eos_ids: Sequence[int]) -> Tensor:
    """`[B, T]` bool: True up to and including the first EOS of each row (all True if none)."""
    is_eos = torch.isin(response_ids, torch.tensor(list(eos_ids), device=response_ids.device))
    seen_before = is_eos.long().cumsum(dim=1) - is_eos.long()  # EOS strictly before t
    return seen_before == 0


@torch.no_grad()
def sample(model: Any, tokenizer: Any, prompts: Sequence[str], *, group_size: int = 1,
           max_new_tokens: int = 32, temperature: float = 1.0, top_p: float = 1.0,
           greedy: bool = False, adapter: str | None = "policy") -> Rollout:
    """Sample G completions per rendered prompt from `adapter` (KV-cached `generate`)."""
    eos = eos_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    add_special = not getattr(tokenizer, "chat_template", None)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=add_special)
    tokenizer.padding_side = old_side
    device = next(model.parameters()).device
    query_ids, query_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    kwargs: dict[str, Any] = {"do_sample": False} if greedy else {
        "do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
    with model.using(adapter):
        out = model.generate(input_ids=query_ids, attention_mask=query_mask, max_new_tokens=max_new_tokens,
                             num_return_sequences=group_size, eos_token_id=eos, pad_token_id=pad_id,
                             **kwargs)
    response_ids = out[:, query_ids.shape[1]:]
    response_mask = mask_after_eos(response_ids, eos)
    finished = torch.isin(response_ids, torch.tensor(eos, device=response_ids.device)).any(dim=1)
    response_ids = torch.where(response_mask, response_ids, pad_id)
    texts = tokenizer.batch_decode(response_ids.masked_fill(~response_mask, pad_id), skip_special_tokens=True)
    return Rollout(query_ids.repeat_interleave(group_size, dim=0), query_mask.bool().repeat_interleave(group_size, dim=0),
                   response_ids, response_mask, texts, finished, group_size)


# --- role forwards -----------------------------------------------------------------------------


def response_hidden(model: Any, adapter: str | None, rollout: Rollout) -> Tensor:
    """`[B, T, H]` last-layer hidden states that predict each response token, under `adapter`."""
    start, length = rollout.query_ids.shape[1] - 1, rollout.response_ids.shape[1]
    with model.using(adapter):
        hidden: Tensor = model.hidden_states(rollout.input_ids, rollout.attention_mask)
    return hidden[:, start:start + length]


def response_logprobs(model: Any, hidden: Tensor, response_ids: Tensor, temperature: float) -> Tensor:
    """`[B, T]` float32 log pi(y_t) from response hidden states `[B, T, H]` (LM head on T only)."""
    return logprobs_from_logits(model.logits_at(hidden), response_ids, temperature=temperature)


@dataclass(frozen=True)
class RolloutScores:
    """What PPO needs from the frozen roles at rollout time; all `[B, T]` float32 unless noted."""

    old_logprobs: Tensor | None
    """log pi_old(y_t) under the `policy` adapter; None when the update is on-policy (one
    optimizer step per rollout): the training forward's own detached log-probs are then
    pi_old exactly, and this forward is skipped (TRL's GRPO does the same)."""
    ref_logprobs: Tensor | None
    """log pi_ref(y_t) with all adapters off; None when no KL is used."""
    old_values: Tensor | None
    """V(s_t) from the value role; None without a critic."""


@torch.no_grad()
def score_rollout(model: Any, rollout: Rollout, *, temperature: float, need_ref: bool,
                  value_role: tuple[str, str] | None, chunk: int = 16, need_old: bool = True) -> RolloutScores:
    """One no-grad forward per role over (query + response), in row chunks of `chunk`.

    `value_role` is (adapter, head): ("value", "value") for a separate critic adapter,
    ("policy", "policy") for a value head on the policy (then the policy forward is reused).
    `need_old=False` skips the policy's own forward unless its value head needs it.
    """
    olds, refs, values = [], [], []
    policy_value = value_role is not None and value_role[0] == "policy"
    for i in range(0, rollout.response_ids.shape[0], chunk):
        part = rollout.rows(torch.arange(i, min(i + chunk, rollout.response_ids.shape[0])))
        if need_old or policy_value:
            hidden = response_hidden(model, "policy", part)
        if need_old:
            olds.append(response_logprobs(model, hidden, part.response_ids, temperature))
        if value_role is not None:
            adapter, head = value_role
            if adapter != "policy":
                hidden = response_hidden(model, adapter, part)
            values.append(model.head_scores(head, hidden))
        if need_ref:
            refs.append(response_logprobs(model, response_hidden(model, None, part), part.response_ids, temperature))
    return RolloutScores(torch.cat(olds) if olds else None, torch.cat(refs) if refs else None,
                         torch.cat(values) if values else None)
