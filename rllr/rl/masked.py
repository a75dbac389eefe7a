"""Masked reductions over response tokens, and the one loss-aggregation function.

Shapes: B = batch (rows), T = response tokens. Every mask is `response_mask` `[B, T]`
bool, True = real response token.

Masked slots are dropped with `torch.where`, not multiplied by the mask, so a NaN or
-inf sitting in a padded slot cannot leak into a forward sum (`nan * 0 == nan`).
(`where` protects the forward pass only: if the masked value's own derivative is
infinite, the backward pass can still produce `0 * inf`; keep padded inputs finite.)

Empty selections: a count of zero tokens is clamped to 1, so the mean (and variance)
over nothing is 0 rather than NaN. An all-masked row then contributes nothing instead
of poisoning the batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

AggregationMode = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"]


def masked_sum(values: Tensor, response_mask: Tensor, *, dim: int | None = None) -> Tensor:
    """Sum of `values` where `response_mask` is True.

    Args:
        values: `[B, T]` (any shape matching the mask).
        response_mask: `[B, T]` bool.
        dim: reduce this dimension only; None reduces everything to a scalar.

    Returns:
        A scalar, or the input shape without `dim` (`[B]` for `dim=-1`).
    """
    kept = torch.where(response_mask, values, 0)
    return kept.sum() if dim is None else kept.sum(dim=dim)


def masked_mean(values: Tensor, response_mask: Tensor, *, dim: int | None = None) -> Tensor:
    """Mean of `values` over the True entries: sum(x * m) / max(sum(m), 1).

    Args:
        values: `[B, T]`.
        response_mask: `[B, T]` bool.
        dim: reduce this dimension only; None reduces everything to a scalar.

    Returns:
        A scalar, or `[B]` for `dim=-1`. Zero where no entry is selected.
    """
    count = response_mask.sum() if dim is None else response_mask.sum(dim=dim)
    return masked_sum(values, response_mask, dim=dim) / count.clamp(min=1)


def masked_var(
    values: Tensor, response_mask: Tensor, *, dim: int | None = None, unbiased: bool = True
) -> Tensor:
    """Variance of `values` over the True entries.

    var = sum(m * (x - mean)^2) / (n - 1)   (unbiased, Bessel's correction)
    var = sum(m * (x - mean)^2) / n         (unbiased=False)

    The denominator is clamped to 1, so fewer than two selected entries give 0
    (the squared deviations are then exactly 0), never NaN.

    Args:
        values: `[B, T]`.
        response_mask: `[B, T]` bool.
        dim: reduce this dimension only; None reduces everything to a scalar.
        unbiased: divide by n - 1 instead of n.

    Returns:
        A scalar, or `[B]` for `dim=-1`.
    """
    mean = masked_mean(values, response_mask, dim=dim)
    if dim is not None:
        mean = mean.unsqueeze(dim)
    count = response_mask.sum() if dim is None else response_mask.sum(dim=dim)
    squares = masked_sum((values - mean) ** 2, response_mask, dim=dim)
    return squares / (count - 1 if unbiased else count).clamp(min=1)


def masked_whiten(
    values: Tensor, response_mask: Tensor, *, shift_mean: bool = True, eps: float = 1e-8
) -> Tensor:
    """Normalise the selected entries to zero mean and unit variance, over the whole batch.

    w = (x - mean) / sqrt(var + eps), and w + mean when `shift_mean=False`
    (as TRL / OpenAI lm-human-preferences `whiten`; the variance is unbiased).

    Args:
        values: `[B, T]`.
        response_mask: `[B, T]` bool.
        shift_mean: subtract the mean; False keeps the original mean, rescaling only.
        eps: added to the variance before the square root.

    Returns:
        `[B, T]`, with 0 at masked positions.
    """
    mean = masked_mean(values, response_mask)
    var = masked_var(values, response_mask, unbiased=True)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return torch.where(response_mask, whitened, 0)


def aggregate_loss(
    loss: Tensor,
    response_mask: Tensor,
    mode: AggregationMode = "token-mean",
    *,
    num_tokens: Tensor | float | None = None,
    num_seqs: Tensor | float | None = None,
) -> Tensor:
    """Reduce a per-token loss `[B, T]` to a scalar (OpenRLHF / verl `agg_loss`).

    token-mean:           sum_{b,t} m*l / N_tokens        (DAPO; PPO default)
    seq-mean-token-sum:   sum_b (sum_t m*l) / N_seqs      (Dr. GRPO, constant length norm)
    seq-mean-token-mean:  sum_b (sum_t m*l / n_b) / N_seqs  (original GRPO)

    By default N_tokens = number of True entries and N_seqs = number of rows with at
    least one True entry (all-masked rows, e.g. padding rows, are not sequences).
    Both defaults are local to this batch, so the mean of two shards' losses is not the
    whole batch's loss. Pass the global counts instead (summed over micro-batches and
    ranks) and the shard losses *sum* to the whole-batch loss exactly. Each mode reads
    only its own normaliser; the other is ignored, so a loop may always pass both.

    Args:
        loss: `[B, T]` per-token loss.
        response_mask: `[B, T]` bool.
        mode: one of the three above.
        num_tokens: global token count for "token-mean".
        num_seqs: global sequence count for the two "seq-mean" modes.

    Returns:
        Scalar loss.
    """
    if mode == "token-mean":
        total = masked_sum(loss, response_mask)
        if num_tokens is None:
            return total / response_mask.sum().clamp(min=1)
        return total / num_tokens
    if mode == "seq-mean-token-sum":
        per_seq = masked_sum(loss, response_mask, dim=-1)
    elif mode == "seq-mean-token-mean":
        per_seq = masked_mean(loss, response_mask, dim=-1)
    else:
        raise ValueError(f"unknown aggregation mode {mode!r}")
    if num_seqs is None:
        return per_seq.sum() / response_mask.any(dim=-1).sum().clamp(min=1)
    return per_seq.sum() / num_seqs
