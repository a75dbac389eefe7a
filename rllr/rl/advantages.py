"""Advantage estimators (GAE, GRPO, Dr. GRPO, RLOO) behind one signature, and rewards shaping.

Every estimator is

    fn(token_rewards[B, T], response_mask[B, T], *, values=None, group_size=1,
       gamma=1.0, lam=1.0) -> Advantages(advantages[B, T], returns[B, T])

and is looked up by name in `ADVANTAGES`. Arguments an estimator does not use are
ignored (GAE ignores `group_size`; the group estimators ignore `values`, `gamma`, `lam`),
so a loop can pass the same keywords to all of them. Outputs are 0 at masked positions.

Group layout: rows `[k*G, (k+1)*G)` are the G = `group_size` samples of prompt k,
i.e. prompts repeated consecutively (`repeat_interleave`, as TRL and torchtune do).

Whitening: PPO loops usually whiten GAE advantages over the batch before the update
(`whiten_advantages(adv, response_mask)`), after computing the returns, so the value
targets keep their scale. Group estimators are already normalised; don't whiten them.

These functions do not detach. Compute advantages under `torch.no_grad()` (or from
detached `values`) so that `returns` carries no gradient into the value loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, NamedTuple, Protocol

import torch
from torch import Tensor

from rllr.rl.masked import masked_sum, masked_whiten

AdvantageName = Literal["gae", "grpo", "drgrpo", "rloo"]

GRPO_EPS: Final = 1e-4
"""Added to the group std in GRPO, as TRL does; identical rewards then give 0, not NaN."""


class Advantages(NamedTuple):
    """Output of every advantage estimator."""

    advantages: Tensor
    """`[B, T]` per-token advantages, 0 at masked positions."""
    returns: Tensor
    """`[B, T]` value targets (GAE: advantages + values; group estimators: advantages)."""


class AdvantageEstimator(Protocol):
    """The one signature that every entry of `ADVANTAGES` has."""

    def __call__(
        self,
        token_rewards: Tensor,
        response_mask: Tensor,
        *,
        values: Tensor | None = None,
        group_size: int = 1,
        gamma: float = 1.0,
        lam: float = 1.0,
    ) -> Advantages: ...


def gae_advantages(
    token_rewards: Tensor,
    response_mask: Tensor,
    *,
    values: Tensor | None = None,
    group_size: int = 1,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> Advantages:
    """Generalised Advantage Estimation (Schulman et al. 2016, "High-Dimensional
    Continuous Control Using Generalized Advantage Estimation"), by a reverse scan:

        delta_t = r_t + gamma * V_{t+1} - V_t
        A_t     = delta_t + gamma * lam * A_{t+1}
        R_t     = A_t + V_t

    V and A after the last response token are 0 (the episode ends there). Masked
    positions are skipped, not treated as terminal: t+1 means the next *real* token,
    so a gap in the mask (e.g. tool output inside a response) carries the recursion
    across it, as verl's multi-turn GAE does. Rewards and values at masked positions
    are ignored. With lam = 1, A_t = sum_{k>=t} gamma^(k-t) r_k - V_t.

    Args:
        token_rewards: `[B, T]`.
        response_mask: `[B, T]` bool.
        values: `[B, T]` critic values V(s_t); required.
        group_size: ignored.
        gamma: discount.
        lam: GAE lambda.

    Returns:
        `Advantages` with `[B, T]` advantages and returns, 0 at masked positions.
    """
    if values is None:
        raise ValueError("gae_advantages needs values")
    batch, length = token_rewards.shape
    next_value = values.new_zeros(batch)
    next_adv = values.new_zeros(batch)
    reversed_adv = []
    for t in reversed(range(length)):
        real = response_mask[:, t]
        delta = token_rewards[:, t] + gamma * next_value - values[:, t]
        adv = delta + gamma * lam * next_adv
        next_value = torch.where(real, values[:, t], next_value)
        next_adv = torch.where(real, adv, next_adv)
        reversed_adv.append(torch.where(real, adv, 0))
    advantages = torch.stack(reversed_adv[::-1], dim=1)
    returns = torch.where(response_mask, advantages + values, 0)
    return Advantages(advantages, returns)


def _grouped_sequence_rewards(
    token_rewards: Tensor, response_mask: Tensor, group_size: int, name: str
) -> Tensor:
    """Sum token rewards over each response, then view as `[B/G, G]`."""
    if group_size < 2:
        raise ValueError(f"{name} needs group_size >= 2, got {group_size}")
    batch = token_rewards.shape[0]
    if batch % group_size:
        raise ValueError(f"{name}: batch {batch} is not a multiple of group_size {group_size}")
    return masked_sum(token_rewards, response_mask, dim=-1).view(-1, group_size)


def _broadcast(sequence_advantages: Tensor, response_mask: Tensor) -> Advantages:
    """`[B]` sequence advantages onto every real token of `[B, T]`; returns = advantages."""
    advantages = torch.where(response_mask, sequence_advantages.reshape(-1, 1), 0)
    return Advantages(advantages, advantages)


def grpo_advantages(
    token_rewards: Tensor,
    response_mask: Tensor,
    *,
    values: Tensor | None = None,
    group_size: int = 1,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> Advantages:
    """GRPO outcome advantages (Shao et al. 2024, DeepSeekMath, sec. 4.1.2):

        r_i = sum_t m_it * token_rewards_it
        A_i = (r_i - mean_group(r)) / (std_group(r) + GRPO_EPS)

    std is unbiased (n - 1), as torch.std and TRL. A_i is put on every real token.
    A row with no response tokens still counts as reward 0 in its group's statistics.

    Args:
        token_rewards: `[B, T]`, B = prompts * G.
        response_mask: `[B, T]` bool.
        values, gamma, lam: ignored.
        group_size: G >= 2 consecutive rows per prompt.

    Returns:
        `Advantages`; returns = advantages.
    """
    rewards = _grouped_sequence_rewards(token_rewards, response_mask, group_size, "grpo")
    mean = rewards.mean(dim=-1, keepdim=True)
    std = rewards.std(dim=-1, keepdim=True)
    return _broadcast((rewards - mean) / (std + GRPO_EPS), response_mask)


def drgrpo_advantages(
    token_rewards: Tensor,
    response_mask: Tensor,
    *,
    values: Tensor | None = None,
    group_size: int = 1,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> Advantages:
    """Dr. GRPO advantages (Liu et al. 2025, "Understanding R1-Zero-Like Training"):

        A_i = r_i - mean_group(r)

    i.e. GRPO without the std division, which over-weights groups of nearly equal
    rewards. The paper's other fix, dropping the 1/|o_i| length normalisation, is
    `aggregate_loss(mode="seq-mean-token-sum")` with a constant `num_seqs`.

    Args:
        token_rewards: `[B, T]`, B = prompts * G.
        response_mask: `[B, T]` bool.
        values, gamma, lam: ignored.
        group_size: G >= 2 consecutive rows per prompt.

    Returns:
        `Advantages`; returns = advantages.
    """
    rewards = _grouped_sequence_rewards(token_rewards, response_mask, group_size, "drgrpo")
    return _broadcast(rewards - rewards.mean(dim=-1, keepdim=True), response_mask)


def rloo_advantages(
    token_rewards: Tensor,
    response_mask: Tensor,
    *,
    values: Tensor | None = None,
    group_size: int = 1,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> Advantages:
    """REINFORCE leave-one-out (Kool et al. 2019; Ahmadian et al. 2024, "Back to Basics"):

        A_i = r_i - 1/(G-1) * sum_{j != i} r_j  =  G/(G-1) * (r_i - mean_group(r))

    Args:
        token_rewards: `[B, T]`, B = prompts * G.
        response_mask: `[B, T]` bool.
        values, gamma, lam: ignored.
        group_size: G >= 2 consecutive rows per prompt (raises ValueError otherwise).

    Returns:
        `Advantages`; returns = advantages.
    """
    rewards = _grouped_sequence_rewards(token_rewards, response_mask, group_size, "rloo")
    baseline = (rewards.sum(dim=-1, keepdim=True) - rewards) / (group_size - 1)
    return _broadcast(rewards - baseline, response_mask)


ADVANTAGES: Final[Mapping[AdvantageName, AdvantageEstimator]] = {
    "gae": gae_advantages,
    "grpo": grpo_advantages,
    "drgrpo": drgrpo_advantages,
    "rloo": rloo_advantages,
}


def whiten_advantages(
    advantages: Advantages, response_mask: Tensor, *, shift_mean: bool = True
) -> Advantages:
    """Whiten `advantages.advantages` over the batch (`masked_whiten`); keep `returns`.

    Usage in a PPO loop, after GAE and before the minibatch epochs:

        adv = whiten_advantages(ADVANTAGES["gae"](token_rewards, mask, values=v), mask)
    """
    whitened = masked_whiten(advantages.advantages, response_mask, shift_mean=shift_mean)
    return Advantages(whitened, advantages.returns)


def sequence_to_token_rewards(
    scores: Tensor,
    response_mask: Tensor,
    kl: Tensor | None = None,
    kl_coef: float = 0.0,
) -> Tensor:
    """Per-token rewards from one score per sequence and a per-token KL penalty.

        token_rewards_t = -kl_coef * kl_t + [t == last real token] * score

    (Ziegler et al. 2019; Ouyang et al. 2022, InstructGPT eq. 2; RLLR eq. 5.) The
    score sits on the last True position of each row; an all-masked row gets all
    zeros (its score is dropped). `kl` is typically `kl_penalty(logprobs,
    ref_logprobs, "k1")`, computed without gradient.

    Args:
        scores: `[B]` sequence scores (the mixed reward).
        response_mask: `[B, T]` bool.
        kl: `[B, T]` per-token KL estimate, or None for no penalty.
        kl_coef: penalty coefficient beta.

    Returns:
        `[B, T]` token rewards, 0 at masked positions.
    """
    positions = torch.arange(response_mask.shape[-1], device=response_mask.device)
    last = torch.where(response_mask, positions, -1).amax(dim=-1, keepdim=True)  # [B, 1]
    rewards = torch.where(positions == last, scores.reshape(-1, 1), 0)
    if kl is not None:
        rewards = rewards - kl_coef * kl
    return torch.where(response_mask, rewards, 0)
