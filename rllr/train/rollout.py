"""Rollouts: sample completions from the `policy` adapter, then one forward per role.

Shapes: P = prompts, G = group size (samples per prompt), B = P * G, Lq = prompt tokens
(left-padded), T = response tokens (right-padded), L = Lq + T, H = hidden size.
Rows are grouped by prompt: rows [k*G, (k+1)*G) are prompt k's samples (as
`rl.advantages` expects), and `Rollout.prompt_index` names each row's prompt.

A prompt's G samples share its forward (`shared_prefix`, default on): generation prefills
the P prompts once and repeats their KV cache, and the role forwards pack a prompt's
responses into one row (`packed_response_hidden`), so the prompt is computed once, not G times.

Every role runs on the same `AdapterModel` by switching adapters; no copy is made:

    old_logprobs   adapter `policy`              LM head on the T response positions only
    ref_logprobs   all adapters off (reference)  idem
    values         adapter `value` + head        per response token (or the policy's head)
    RM scores      `rm_label` / `rm_rationale`   head at the last real token

The hidden state at position Lq - 1 + t predicts response token t, so logits and values
are taken from the slice [Lq - 1, Lq - 1 + T): the vocabulary-sized tensor never
exists for prompt tokens (and the LM head runs on 128 positions at a time). Left padding shifts all real positions by the same amount,
which rotary embeddings do not see (attention depends on relative positions only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils.checkpoint
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
    prompt_index: Tensor | None = None
    """`[B]` long: which prompt each row answers (rows with equal index have equal queries);
    None = every row its own prompt. Lets role forwards share a prompt across its rows."""

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
                       self.response_mask[index], [self.texts[i] for i in idx], self.finished[index], 1,
                       None if self.prompt_index is None else self.prompt_index[index])


def mask_after_eos(response_ids: Tensor, eos_ids: Sequence[int]) -> Tensor:
    """`[B, T]` bool: True up to and including the first EOS of each row (all True if none)."""
    is_eos = torch.isin(response_ids, torch.tensor(list(eos_ids), device=response_ids.device))
    seen_before = is_eos.long().cumsum(dim=1) - is_eos.long()  # EOS strictly before t
    return seen_before == 0


@torch.no_grad()
def sample(model: Any, tokenizer: Any, prompts: Sequence[str], *, group_size: int = 1,
           max_new_tokens: int = 32, temperature: float = 1.0, top_p: float = 1.0,
           greedy: bool = False, adapter: str | None = "policy", shared_prefix: bool = True) -> Rollout:
    """Sample G completions per rendered prompt from `adapter` (KV-cached `generate`).

    `shared_prefix`: with G > 1, the P prompts are prefilled once and their KV cache is
    repeated G times, instead of `num_return_sequences` prefilling every copy (G x fewer
    prompt tokens; the samples are the same draws up to float rounding)."""
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
    kwargs.update(max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=pad_id)
    with model.using(adapter):
        if shared_prefix and group_size > 1 and query_ids.shape[1] > 1 and _plain_causal(model):
            cache = _prefill(model, query_ids[:, :-1], query_mask[:, :-1])
            cache.batch_repeat_interleave(group_size)
            kwargs[_cache_kwarg(model)] = cache
            out = model.generate(input_ids=query_ids.repeat_interleave(group_size, dim=0),
                                 attention_mask=query_mask.repeat_interleave(group_size, dim=0), **kwargs)
        else:
            out = model.generate(input_ids=query_ids, attention_mask=query_mask,
                                 num_return_sequences=group_size, **kwargs)
    response_ids = out[:, query_ids.shape[1]:]
    response_mask = mask_after_eos(response_ids, eos)
    finished = torch.isin(response_ids, torch.tensor(eos, device=response_ids.device)).any(dim=1)
    response_ids = torch.where(response_mask, response_ids, pad_id)
    texts = tokenizer.batch_decode(response_ids.masked_fill(~response_mask, pad_id), skip_special_tokens=True)
    prompt_index = torch.arange(query_ids.shape[0], device=device).repeat_interleave(group_size)
    return Rollout(query_ids.repeat_interleave(group_size, dim=0), query_mask.bool().repeat_interleave(group_size, dim=0),
                   response_ids, response_mask, texts, finished, group_size, prompt_index)


def _generation_positions(mask: Tensor) -> Tensor:
    """Position ids as `generate` derives them from a left-padded mask (pads get 1)."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)


def _prefill(model: Any, ids: Tensor, mask: Tensor) -> Any:
    """KV cache of `ids` `[P, Lq - 1]` under the active adapter, for `generate` to continue."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    model.body()(input_ids=ids, attention_mask=mask, position_ids=_generation_positions(mask),
                 use_cache=True, **{_cache_kwarg(model): cache})
    return cache


def _cache_kwarg(model: Any) -> str:
    """`cache` where transformers has renamed `past_key_values` (5.2x), else the old name."""
    return "cache" if "cache" in inspect.signature(model.body().forward).parameters else "past_key_values"


def _plain_causal(model: Any) -> bool:
    """True when attention is plain causal + padding (no sliding window or other layer types)
    under an implementation that takes a custom 4D mask: what the shared-prefix paths need."""
    config = model.config.get_text_config()
    types = set(getattr(config, "layer_types", None) or ["full_attention"])
    return config._attn_implementation in ("sdpa", "eager") and types == {"full_attention"}


# --- role forwards -----------------------------------------------------------------------------


def response_hidden(model: Any, adapter: str | None, rollout: Rollout, *, shared_prefix: bool = True) -> Tensor:
    """`[B, T, H]` last-layer hidden states that predict each response token, under `adapter`.

    With `shared_prefix` and rows that share a prompt, each prompt is forwarded once
    (`packed_response_hidden`); otherwise every row is its own (query + response) sequence."""
    start, length = rollout.query_ids.shape[1] - 1, rollout.response_ids.shape[1]
    shares = rollout.prompt_index is not None and len(rollout.prompt_index.unique()) < len(rollout.prompt_index)
    with model.using(adapter):
        if shared_prefix and shares and _plain_causal(model):
            return packed_response_hidden(model, rollout)
        hidden: Tensor = model.hidden_states(rollout.input_ids, rollout.attention_mask)
    return hidden[:, start:start + length]


def packed_response_hidden(model: Any, rollout: Rollout) -> Tensor:
    """`response_hidden` with one packed row per prompt: `[query, response_1, ..., response_S]`.

    Rows of the same prompt (`prompt_index`) go into one sequence of length Lq + S*T (S =
    most rows of one prompt); a 4D mask lets response s see the query and its own earlier
    tokens only, and position ids restart at Lq for each response, so every hidden state
    equals the unpacked one up to float rounding. The prompt costs one forward instead of S
    (and one backward: its gradient is the sum over the responses, as unpacked).
    """
    qids, qmask, rids, rmask = rollout.query_ids, rollout.query_mask, rollout.response_ids, rollout.response_mask
    assert rollout.prompt_index is not None
    b, Lq = qids.shape
    T, dev = rids.shape[1], qids.device
    _, group = torch.unique(rollout.prompt_index, return_inverse=True)       # [b] packed row of each row
    n = int(group.max()) + 1
    order = torch.argsort(group, stable=True)
    counts = torch.bincount(group, minlength=n)
    starts = counts.cumsum(0) - counts
    slot = torch.empty_like(group)
    slot[order] = torch.arange(b, device=dev) - starts[group[order]]         # [b] response slot in its row
    S, Lp = int(counts.max()), Lq + int(counts.max()) * T
    first = order[starts]                                                    # [n] a row of each prompt
    resp_pos = Lq + slot[:, None] * T + torch.arange(T, device=dev)          # [b, T] packed positions
    ids = torch.full((n, Lp), 0, dtype=qids.dtype, device=dev)
    real = torch.zeros((n, Lp), dtype=torch.bool, device=dev)
    ids[:, :Lq], real[:, :Lq] = qids[first], qmask[first].bool()
    ids[group[:, None], resp_pos], real[group[:, None], resp_pos] = rids, rmask.bool()
    block = torch.cat([torch.full((Lq,), -1, device=dev), torch.arange(S, device=dev).repeat_interleave(T)])  # [Lp]
    positions = torch.cat([torch.arange(Lq, device=dev), Lq + torch.arange(T, device=dev).repeat(S)])        # [Lp]
    k = torch.arange(Lp, device=dev)
    visible = (k[None, :] <= k[:, None]) & ((block[None, :] == -1) | (block[None, :] == block[:, None]))   # [Lp, Lp]
    allowed = (visible[None] & real[:, None, :]) | torch.eye(Lp, dtype=torch.bool, device=dev)             # [n, Lp, Lp]
    dtype = next(model.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype, device=dev).masked_fill_(~allowed, torch.finfo(dtype).min)
    out = model.body()(input_ids=ids, attention_mask=mask[:, None], position_ids=positions.expand(n, Lp),
                       use_cache=False)
    take = resp_pos - 1
    take[:, 0] = Lq - 1                                                      # the query's last token predicts y_0
    return out.last_hidden_state[group[:, None], take]


def response_logprobs(model: Any, hidden: Tensor, response_ids: Tensor, temperature: float) -> Tensor:
    """`[B, T]` float32 log pi(y_t) from response hidden states `[B, T, H]` (LM head on T only)."""
    return response_logprobs_entropy(model, hidden, response_ids, temperature)[0]


def response_logprobs_entropy(model: Any, hidden: Tensor, response_ids: Tensor, temperature: float, *,
                              entropy: bool = False, chunk: int = 128) -> tuple[Tensor, Tensor | None]:
    """`[B, T]` float32 log pi(y_t), and the policy entropy per token (detached) if asked.

    The LM head runs on `chunk` positions at a time, so the `[B, T, V]` logits never exist
    at once (V = 49k makes them the largest tensor of a step). Under autograd each chunk is
    checkpointed: backward recomputes its logits (one LM-head matmul) instead of keeping
    logits and log-softmax alive until then.
    """
    from rllr.rl.losses import entropy_from_logits

    flat_h, flat_y = hidden.reshape(-1, hidden.shape[-1]), response_ids.reshape(-1)

    def piece(h: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = model.logits_at(h)                                          # [n, V]
        lp = logprobs_from_logits(logits, y, temperature=temperature)
        with torch.no_grad():
            ent = entropy_from_logits(logits.float()) if entropy else lp.new_zeros(())
        return lp, ent

    checkpoint = torch.is_grad_enabled() and flat_h.requires_grad
    lps, ents = [], []
    for h, y in zip(torch.split(flat_h, chunk), torch.split(flat_y, chunk), strict=True):
        lp, ent = (torch.utils.checkpoint.checkpoint(piece, h, y, use_reentrant=False) if checkpoint
                   else piece(h, y))
        lps.append(lp)
        ents.append(ent)
    if not lps:  # B * T == 0
        return hidden.new_zeros(response_ids.shape, dtype=torch.float32), None
    logprobs = torch.cat(lps).view(response_ids.shape)
    return logprobs, torch.cat(ents).view(response_ids.shape).detach() if entropy else None


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
                  value_role: tuple[str, str] | None, chunk: int = 16, need_old: bool = True,
                  shared_prefix: bool = True, after_forward: Callable[[], None] | None = None) -> RolloutScores:
    """One no-grad forward per role over (query + response), in row chunks of `chunk`.

    `value_role` is (adapter, head): ("value", "value") for a separate critic adapter,
    ("policy", "policy") for a value head on the policy (then the policy forward is reused).
    `need_old=False` skips the policy's own forward unless its value head needs it.
    `shared_prefix`: see `response_hidden`. `after_forward`: called after each role's
    forward (e.g. to trim the heap).
    """
    done = after_forward or (lambda: None)
    olds, refs, values = [], [], []
    policy_value = value_role is not None and value_role[0] == "policy"
    for i in range(0, rollout.response_ids.shape[0], chunk):
        part = rollout.rows(torch.arange(i, min(i + chunk, rollout.response_ids.shape[0])))
        if need_old or policy_value:
            hidden = response_hidden(model, "policy", part, shared_prefix=shared_prefix)
        if need_old:
            olds.append(response_logprobs(model, hidden, part.response_ids, temperature))
            done()
        if value_role is not None:
            adapter, head = value_role
            if adapter != "policy":
                hidden = response_hidden(model, adapter, part, shared_prefix=shared_prefix)
            values.append(model.head_scores(head, hidden))
            done()
        if need_ref:
            hidden = response_hidden(model, None, part, shared_prefix=shared_prefix)
            refs.append(response_logprobs(model, hidden, part.response_ids, temperature))
            done()
    return RolloutScores(torch.cat(olds) if olds else None, torch.cat(refs) if refs else None,
                         torch.cat(values) if values else None)
