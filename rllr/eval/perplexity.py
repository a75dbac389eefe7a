"""Sliding-window perplexity of a causal LM over a long text (RL-for-NLU section 5.6, Table 5).

The Hugging Face "perplexity of fixed-length models" recipe: the token sequence is read in
windows of `max_length` tokens whose starts are `stride` apart; each window scores only
the tokens that the previous window did not (the last `end - prev_end` tokens), so every
token is scored once, with up to `max_length - stride` tokens of extra context.

    ppl = exp( sum_t -log p(x_t | x_<t within its window) / N )

N counts the scored tokens. The very first token has no context and is never scored; with
`stride == max_length` the windows are independent chunks, and each chunk's first token
is not scored either (the recipe's behaviour, kept so numbers match it). Departure from
the recipe: we sum token NLLs exactly instead of multiplying each window's mean loss by
its target count, which is the same number without the off-by-one of that shortcut.

The paper does not state its window or stride; defaults here are 1024 / 512.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["PerplexityResult", "Window", "sliding_window_nll", "sliding_windows", "text_perplexity"]


class PerplexityResult(NamedTuple):
    nll_sum: float
    """Summed negative log-likelihood (nats) of the scored tokens."""
    num_tokens: int
    """Number of scored tokens."""
    ppl: float
    """exp(nll_sum / num_tokens)."""
    num_windows: int


class Window(NamedTuple):
    begin: int
    end: int
    num_targets: int
    """The last `num_targets` tokens of [begin, end) are scored."""


def sliding_windows(seq_len: int, max_length: int, stride: int) -> list[Window]:
    """The recipe's windows over a sequence of `seq_len` tokens."""
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    if not 1 <= stride <= max_length:
        raise ValueError(f"stride must be in [1, max_length={max_length}], got {stride}")
    windows: list[Window] = []
    prev_end = 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        # position 0 of a window has no context inside it and cannot be scored
        num_targets = min(end - prev_end, end - begin - 1)
        if num_targets > 0:
            windows.append(Window(begin, end, num_targets))
        prev_end = end
        if end == seq_len:
            break
    return windows


def _batches(windows: Sequence[Window], batch_size: int) -> list[list[Window]]:
    """Consecutive windows of equal length and target count, at most `batch_size` per batch."""
    out: list[list[Window]] = []
    for w in windows:
        last = out[-1] if out else None
        if (last and len(last) < batch_size and last[0].end - last[0].begin == w.end - w.begin
                and last[0].num_targets == w.num_targets):
            last.append(w)
        else:
            out.append([w])
    return out


def sliding_window_nll(
    model: Any,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    max_length: int = 1024,
    stride: int = 512,
    batch_size: int = 1,
    progress: bool = False,
) -> PerplexityResult:
    """Perplexity of the token sequence `input_ids` [T] under `model` (see module docstring)."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    ids = torch.as_tensor(input_ids, dtype=torch.long).flatten()
    windows = sliding_windows(ids.numel(), max_length, stride)
    device = getattr(model, "device", torch.device("cpu"))
    keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters
    nll_sum, num_tokens = 0.0, 0
    with torch.inference_mode():
        for batch in tqdm(_batches(windows, batch_size), desc="perplexity", disable=not progress,
                          leave=False):
            k = batch[0].num_targets
            x = torch.stack([ids[w.begin: w.end] for w in batch]).to(device)  # [B, W]
            # logits at positions W-k-1 .. W-2 predict the k scored tokens W-k .. W-1
            kwargs = {"logits_to_keep": k + 1} if keep_arg else {}
            logits = model(input_ids=x, use_cache=False, **kwargs).logits[:, -(k + 1): -1]  # [B, k, V]
            targets = x[:, -k:]  # [B, k]
            nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                  reduction="sum")
            nll_sum += float(nll)
            num_tokens += k * len(batch)
    ppl = math.exp(nll_sum / num_tokens) if num_tokens else float("nan")
    return PerplexityResult(nll_sum, num_tokens, ppl, len(windows))


def text_perplexity(
    model: Any,
    tokenizer: Any,
    text: str,
    *,
    max_length: int = 1024,
    stride: int = 512,
    batch_size: int = 1,
    add_special_tokens: bool = True,
    progress: bool = True,
) -> PerplexityResult:
    """Tokenize `text` once (with the tokenizer's BOS, as the recipe does) and score it."""
    model_max = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if model_max:
        max_length = min(max_length, int(model_max))
        stride = min(stride, max_length)
    ids = tokenizer(text, add_special_tokens=add_special_tokens, return_attention_mask=False,
                    verbose=False)["input_ids"]
    return sliding_window_nll(model, ids, max_length=max_length, stride=stride,
                              batch_size=batch_size, progress=progress)
