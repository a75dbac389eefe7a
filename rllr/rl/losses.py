"""PPO policy and value losses, entropy, the Bradley-Terry reward-model loss, explained variance.

Losses return a scalar already reduced by `aggregate_loss`; the statistics beside them
(`clipfrac`, `approx_kl`) are detached scalars, always token-means over the response
mask of this batch, whatever the loss aggregation (they are diagnostics, not gradients).
Shapes: B = batch, T = response tokens, V = vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rllr.rl.kl import kl_penalty
from rllr.rl.masked import AggregationMode, aggregate_loss, masked_mean, masked_var


class PolicyLossOutput(NamedTuple):
    """Output of `ppo_policy_loss`."""

    loss: Tensor
    """Scalar, aggregated with the chosen mode; carries the gradient."""
    clipfrac: Tensor
    """Scalar, detached: fraction of real tokens where the ratio clip was active."""
    approx_kl: Tensor
    """Scalar, detached: token-mean k3 estimate of KL(pi_old || pi) (joschu)."""


class ValueLossOutput(NamedTuple):
    """Output of `value_loss`."""

    loss: Tensor
    """Scalar, aggregated with the chosen mode; carries the gradient."""
    clipfrac: Tensor
    """Scalar, detached: fraction of real tokens where the clipped error was larger."""


class BradleyTerryOutput(NamedTuple):
    """Output of `bradley_terry_loss`."""

    loss: Tensor
    """Scalar mean over pairs; carries the gradient."""
    accuracy: Tensor
    """Scalar, detached: fraction of pairs with chosen score > rejected score."""


def ppo_policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    *,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
    dual_clip: float | None = None,
    aggregation: AggregationMode = "token-mean",
    num_tokens: Tensor | float | None = None,
    num_seqs: Tensor | float | None = None,
) -> PolicyLossOutput:
    """PPO clipped surrogate (Schulman et al. 2017, eq. 7), as a loss to minimise.

        rho_t = exp(log pi(a_t) - log pi_old(a_t))
        l_t   = max(-A_t rho_t, -A_t clip(rho_t, 1 - eps_low, 1 + eps_high))

    `clip_eps_high` decouples the upper bound (DAPO "clip-higher", Yu et al. 2025); None
    means symmetric. With `dual_clip = c > 1` (Ye et al. 2020, "Mastering Complex
    Control in MOBA Games with Deep RL", as OpenRLHF), tokens with A_t < 0 use
    min(l_t, -c A_t), bounding the loss when rho_t is very large.

    Args:
        logprobs: `[B, T]` log-probabilities under the current policy (with grad).
        old_logprobs: `[B, T]` log-probabilities at rollout time (no grad).
        advantages: `[B, T]`.
        response_mask: `[B, T]` bool.
        clip_eps: lower clip range eps_low (and the upper one unless clip_eps_high).
        clip_eps_high: upper clip range, or None for clip_eps.
        dual_clip: c > 1, or None to disable.
        aggregation, num_tokens, num_seqs: see `aggregate_loss`.

    Returns:
        `PolicyLossOutput(loss, clipfrac, approx_kl)`, all scalars.
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    eps_high = clip_eps if clip_eps_high is None else clip_eps_high
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_eps, 1.0 + eps_high)
    per_token = torch.maximum(unclipped, clipped)
    if dual_clip is not None:
        bounded = torch.minimum(per_token, -advantages * dual_clip)
        per_token = torch.where(advantages < 0, bounded, per_token)
    loss = aggregate_loss(
        per_token, response_mask, aggregation, num_tokens=num_tokens, num_seqs=num_seqs
    )
    clipfrac = masked_mean((clipped > unclipped).float(), response_mask).detach()
    approx_kl = masked_mean(kl_penalty(old_logprobs, logprobs, "k3"), response_mask).detach()
    return PolicyLossOutput(loss, clipfrac, approx_kl)


def value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    response_mask: Tensor,
    *,
    clip_eps: float | None = None,
    aggregation: AggregationMode = "token-mean",
    num_tokens: Tensor | float | None = None,
    num_seqs: Tensor | float | None = None,
) -> ValueLossOutput:
    """Value loss, optionally clipped as in PPO2 (OpenAI baselines `ppo2/model.py`).

        V_clip = V_old + clip(V - V_old, -eps, eps)
        l_t    = 1/2 max((V - R)^2, (V_clip - R)^2)     (1/2 (V - R)^2 when eps is None)

    Args:
        values: `[B, T]` current value predictions (with grad).
        old_values: `[B, T]` predictions at rollout time.
        returns: `[B, T]` targets R.
        response_mask: `[B, T]` bool.
        clip_eps: value clip range in reward units, or None for no clipping.
        aggregation, num_tokens, num_seqs: see `aggregate_loss`.

    Returns:
        `ValueLossOutput(loss, clipfrac)`, scalars.
    """
    unclipped = (values - returns) ** 2
    if clip_eps is None:
        per_token = unclipped
        clipfrac = torch.zeros((), dtype=values.dtype, device=values.device)
    else:
        clipped_values = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
        clipped = (clipped_values - returns) ** 2
        per_token = torch.maximum(unclipped, clipped)
        clipfrac = masked_mean((clipped > unclipped).float(), response_mask).detach()
    loss = aggregate_loss(
        0.5 * per_token, response_mask, aggregation, num_tokens=num_tokens, num_seqs=num_seqs
    )
    return ValueLossOutput(loss, clipfrac)


def entropy_from_logits(logits: Tensor, *, chunk_rows: int = 64) -> Tensor:
    """Entropy of softmax(logits) per position: H = logsumexp(z) - sum_v softmax(z)_v z_v.

    Args:
        logits: `[B, T, V]`.
        chunk_rows: rows of the flattened `[B*T, V]` processed at once (bounds the
            vocabulary-sized temporaries; the result does not depend on it).

    Returns:
        `[B, T]`, in the dtype of the logits.
    """
    flat = logits.reshape(-1, logits.shape[-1])
    parts = [torch.logsumexp(z, dim=-1) - (F.softmax(z, dim=-1) * z).sum(dim=-1)
             for z in torch.split(flat, chunk_rows)]
    if not parts:
        return logits.new_zeros(logits.shape[:-1])
    return torch.cat(parts).view(logits.shape[:-1])


def bradley_terry_loss(
    chosen_scores: Tensor, rejected_scores: Tensor, margin: Tensor | float | None = None
) -> BradleyTerryOutput:
    """Pairwise reward-model loss (Bradley & Terry 1952; Ouyang et al. 2022, eq. 1):

        loss = -mean_b log sigmoid(r_chosen - r_rejected - margin)

    The margin term is Llama 2's (Touvron et al. 2023, eq. 2).

    Args:
        chosen_scores: `[B]`.
        rejected_scores: `[B]`.
        margin: `[B]` or a scalar, or None for 0.

    Returns:
        `BradleyTerryOutput(loss, accuracy)`, scalars.
    """
    diff = chosen_scores - rejected_scores
    if margin is not None:
        diff = diff - margin
    loss = -F.logsigmoid(diff).mean()
    accuracy = (chosen_scores > rejected_scores).float().mean().detach()
    return BradleyTerryOutput(loss, accuracy)


def explained_variance(values: Tensor, returns: Tensor, response_mask: Tensor) -> Tensor:
    """1 - Var[R - V] / Var[R] over the real tokens (as cleanrl / baselines).

    1 = perfect critic, 0 = no better than a constant, < 0 = worse. NaN when the returns
    have zero variance (undefined, as in cleanrl).

    Args:
        values: `[B, T]`.
        returns: `[B, T]`.
        response_mask: `[B, T]` bool.

    Returns:
        Scalar, detached.
    """
    values, returns = values.detach(), returns.detach()
    var_returns = masked_var(returns, response_mask, unbiased=False)
    var_error = masked_var(returns - values, response_mask, unbiased=False)
    ratio = 1.0 - var_error / var_returns
    return torch.where(var_returns == 0, torch.nan, ratio)
