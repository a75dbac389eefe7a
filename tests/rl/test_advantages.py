"""Advantage estimators: hand-worked GAE and group advantages, equivalences, edge cases."""

from __future__ import annotations

import pytest
import torch

from rllr.rl.advantages import (
    ADVANTAGES,
    GRPO_EPS,
    AdvantageName,
    Advantages,
    drgrpo_advantages,
    gae_advantages,
    grpo_advantages,
    rloo_advantages,
    sequence_to_token_rewards,
    whiten_advantages,
)
from rllr.rl.masked import masked_mean, masked_var

T, F = True, False


# --- GAE ---------------------------------------------------------------------------


def test_gae_hand_computed() -> None:
    # gamma = lam = 0.5, so gamma * lam = 0.25.
    # Row 0, all real: r = [0, 0, 1], V = [0.5, 0.25, 0.5]
    #   t=2: delta = 1 + 0.5*0    - 0.5  =  0.5;   A = 0.5
    #   t=1: delta = 0 + 0.5*0.5  - 0.25 =  0;     A = 0 + 0.25*0.5 = 0.125
    #   t=0: delta = 0 + 0.5*0.25 - 0.5  = -0.375; A = -0.375 + 0.25*0.125 = -0.34375
    #   R = A + V = [0.15625, 0.375, 1.0]
    # Row 1, last slot padding (garbage 9 / 7 must be ignored): r = [0, 2], V = [1, 1]
    #   t=1: delta = 2 + 0 - 1 = 1;           A = 1
    #   t=0: delta = 0 + 0.5*1 - 1 = -0.5;    A = -0.5 + 0.25*1 = -0.25
    #   R = [0.75, 2, 0]
    token_rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 9.0]])
    values = torch.tensor([[0.5, 0.25, 0.5], [1.0, 1.0, 7.0]])
    mask = torch.tensor([[T, T, T], [T, T, F]])
    out = gae_advantages(token_rewards, mask, values=values, gamma=0.5, lam=0.5)
    torch.testing.assert_close(
        out.advantages, torch.tensor([[-0.34375, 0.125, 0.5], [-0.25, 1.0, 0.0]])
    )
    torch.testing.assert_close(out.returns, torch.tensor([[0.15625, 0.375, 1.0], [0.75, 2.0, 0.0]]))


def test_gae_skips_a_gap_in_the_mask() -> None:
    # gamma = lam = 1. Mask [T, F, T]: slot 1 (r=5, V=9) is ignored, so the row behaves
    # like r = [0, 1], V = [0.5, 0.5]:
    #   t=2: delta = 1 - 0.5 = 0.5;           A = 0.5
    #   t=0: delta = 0 + 0.5 - 0.5 = 0;       A = 0 + 0.5 = 0.5
    out = gae_advantages(
        torch.tensor([[0.0, 5.0, 1.0]]),
        torch.tensor([[T, F, T]]),
        values=torch.tensor([[0.5, 9.0, 0.5]]),
    )
    torch.testing.assert_close(out.advantages, torch.tensor([[0.5, 0.0, 0.5]]))
    torch.testing.assert_close(out.returns, torch.tensor([[1.0, 0.0, 1.0]]))


def test_gae_with_lambda_one_is_discounted_return_minus_value() -> None:
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(5, 8, generator=g)
    values = torch.randn(5, 8, generator=g)
    mask = torch.arange(8) < torch.tensor([8, 3, 1, 6, 5])[:, None]
    gamma = 0.9
    # R_t = sum_{k >= t} gamma^(k - t) r_k over real tokens, as a matrix D[t, k]
    steps = torch.arange(8)
    discount = torch.where(
        steps[None, :] >= steps[:, None], gamma ** (steps[None, :] - steps[:, None]).float(), 0.0
    )
    discounted = (rewards * mask) @ discount.T
    out = gae_advantages(rewards, mask, values=values, gamma=gamma, lam=1.0)
    torch.testing.assert_close(out.advantages, torch.where(mask, discounted - values, 0.0))
    torch.testing.assert_close(out.returns, torch.where(mask, discounted, 0.0))


def _gae_reference(
    rewards: list[float], values: list[float], mask: list[bool], gamma: float, lam: float
) -> list[float]:
    """Per-row textbook GAE over the real tokens only, in plain Python."""
    real = [t for t, m in enumerate(mask) if m]
    out = [0.0] * len(mask)
    next_value, next_adv = 0.0, 0.0
    for t in reversed(real):
        delta = rewards[t] + gamma * next_value - values[t]
        next_adv = delta + gamma * lam * next_adv
        next_value = values[t]
        out[t] = next_adv
    return out


def test_gae_batched_scan_matches_per_row_python_loop() -> None:
    g = torch.Generator().manual_seed(1)
    rewards = torch.randn(6, 10, generator=g)
    values = torch.randn(6, 10, generator=g)
    mask = torch.rand(6, 10, generator=g) > 0.3  # arbitrary gaps
    mask[2] = False  # an all-masked row
    out = gae_advantages(rewards, mask, values=values, gamma=0.97, lam=0.9)
    expected = torch.tensor(
        [
            _gae_reference(r, v, m, 0.97, 0.9)
            for r, v, m in zip(rewards.tolist(), values.tolist(), mask.tolist(), strict=True)
        ]
    )
    torch.testing.assert_close(out.advantages, expected)
    assert torch.equal(out.advantages[2], torch.zeros(10))
    assert torch.equal(out.returns[2], torch.zeros(10))


def test_gae_needs_values() -> None:
    with pytest.raises(ValueError, match="needs values"):
        gae_advantages(torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool))


# --- group estimators ----------------------------------------------------------------

# B = 6 rows, G = 3, T = 2. Sequence rewards are sums over real tokens:
#   group 0: row 0: 0 + 0 = 0; row 1: 0.5 + 0.5 = 1; row 2: 2 (the masked 100 is ignored)
#   group 1: every row sums to 4 (identical rewards)
GROUP_REWARDS = torch.tensor(
    [[0.0, 0.0], [0.5, 0.5], [2.0, 100.0], [4.0, 0.0], [1.0, 3.0], [0.0, 4.0]]
)
GROUP_MASK = torch.tensor([[T, T], [T, T], [T, F], [T, T], [T, T], [T, T]])


def _on_tokens(per_row: list[float]) -> torch.Tensor:
    """Broadcast one advantage per row onto GROUP_MASK."""
    return torch.where(GROUP_MASK, torch.tensor(per_row)[:, None], 0.0)


def test_grpo_hand_computed() -> None:
    # group 0: r = [0, 1, 2]; mean 1; unbiased std sqrt((1 + 0 + 1) / 2) = 1
    #   A = [-1, 0, 1] / (1 + 1e-4)
    # group 1: r = [4, 4, 4]; std 0 -> A = 0 / (0 + 1e-4) = 0
    out = grpo_advantages(GROUP_REWARDS, GROUP_MASK, group_size=3)
    d = 1.0 + GRPO_EPS
    expected = _on_tokens([-1.0 / d, 0.0, 1.0 / d, 0.0, 0.0, 0.0])
    torch.testing.assert_close(out.advantages, expected)
    torch.testing.assert_close(out.returns, expected)


def test_drgrpo_hand_computed() -> None:
    # group 0: r - mean = [0 - 1, 1 - 1, 2 - 1] = [-1, 0, 1]; group 1: 4 - 4 = 0
    out = drgrpo_advantages(GROUP_REWARDS, GROUP_MASK, group_size=3)
    torch.testing.assert_close(out.advantages, _on_tokens([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]))


def test_rloo_hand_computed() -> None:
    # group 0: r = [0, 1, 2], sum 3; baseline_i = (3 - r_i) / 2 = [1.5, 1, 0.5]
    #   A = r - baseline = [-1.5, 0, 1.5]  (= G/(G-1) * (r - mean) = 1.5 * [-1, 0, 1])
    # group 1: 4 - (8 / 2) = 0
    out = rloo_advantages(GROUP_REWARDS, GROUP_MASK, group_size=3)
    torch.testing.assert_close(out.advantages, _on_tokens([-1.5, 0.0, 1.5, 0.0, 0.0, 0.0]))


@pytest.mark.parametrize("name", ["grpo", "drgrpo", "rloo"])
def test_identical_rewards_in_a_group_give_zero_advantage(name: AdvantageName) -> None:
    rewards = torch.full((4, 3), 0.7)
    mask = torch.ones(4, 3, dtype=torch.bool)
    out = ADVANTAGES[name](rewards, mask, group_size=2)
    assert torch.equal(out.advantages, torch.zeros(4, 3))


@pytest.mark.parametrize("name", ["grpo", "drgrpo", "rloo"])
def test_group_estimators_reject_group_size_one_and_ragged_batches(name: AdvantageName) -> None:
    rewards, mask = torch.zeros(4, 2), torch.ones(4, 2, dtype=torch.bool)
    estimator = ADVANTAGES[name]
    with pytest.raises(ValueError, match="group_size >= 2"):
        estimator(rewards, mask, group_size=1)
    with pytest.raises(ValueError, match="not a multiple"):
        estimator(rewards, mask, group_size=3)


@pytest.mark.parametrize("name", ["grpo", "drgrpo", "rloo"])
def test_all_masked_row_gets_zero_advantage(name: AdvantageName) -> None:
    # Row 1 has no response tokens: its reward counts as 0 in the group statistics, and
    # its advantages are 0 everywhere.
    rewards = torch.tensor([[1.0, 0.0], [5.0, 5.0], [0.0, 0.0], [1.0, 1.0]])
    mask = torch.tensor([[T, T], [F, F], [T, T], [T, F]])
    out = ADVANTAGES[name](rewards, mask, group_size=2)
    assert torch.equal(out.advantages[1], torch.zeros(2))
    assert out.advantages[0, 0] > 0


def test_rloo_is_scaled_drgrpo() -> None:
    # r_i - mean_{j != i} r_j = G / (G - 1) * (r_i - mean_j r_j)
    g = torch.Generator().manual_seed(3)
    rewards = torch.randn(8, 5, generator=g)
    mask = torch.rand(8, 5, generator=g) > 0.2
    rloo = rloo_advantages(rewards, mask, group_size=4).advantages
    drgrpo = drgrpo_advantages(rewards, mask, group_size=4).advantages
    torch.testing.assert_close(rloo, 4.0 / 3.0 * drgrpo)


# --- shared interface ------------------------------------------------------------------


def test_every_estimator_takes_the_same_arguments_and_keeps_its_inputs() -> None:
    g = torch.Generator().manual_seed(4)
    rewards = torch.randn(4, 5, generator=g)
    values = torch.randn(4, 5, generator=g)
    mask = torch.rand(4, 5, generator=g) > 0.3
    before = (rewards.clone(), values.clone(), mask.clone())
    assert set(ADVANTAGES) == {"gae", "grpo", "drgrpo", "rloo"}
    for estimator in ADVANTAGES.values():
        out = estimator(rewards, mask, values=values, group_size=2, gamma=0.99, lam=0.95)
        assert isinstance(out, Advantages)
        assert out.advantages.shape == out.returns.shape == (4, 5)
        assert torch.equal(out.advantages[~mask], torch.zeros(int((~mask).sum())))
    assert all(torch.equal(a, b) for a, b in zip((rewards, values, mask), before, strict=True))


def test_whiten_advantages_keeps_returns() -> None:
    g = torch.Generator().manual_seed(5)
    rewards, values = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g)
    mask = torch.rand(3, 6, generator=g) > 0.3
    raw = gae_advantages(rewards, mask, values=values)
    out = whiten_advantages(raw, mask)
    assert out.returns is raw.returns
    torch.testing.assert_close(
        masked_mean(out.advantages, mask), torch.tensor(0.0), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(masked_var(out.advantages, mask), torch.tensor(1.0))


# --- sequence scores to token rewards ---------------------------------------------------


def test_sequence_to_token_rewards_hand_computed() -> None:
    scores = torch.tensor([1.0, 2.0, 3.0])
    mask = torch.tensor([[T, T, F], [T, T, T], [F, F, F]])
    kl = torch.tensor([[0.1, 0.2, 9.0], [0.0, 0.5, -0.5], [1.0, 1.0, 1.0]])
    # kl_coef 0.5; the score sits on the last real token:
    #   row 0: [-0.5*0.1, 1 - 0.5*0.2, masked] = [-0.05, 0.9, 0]
    #   row 1: [-0.5*0, -0.5*0.5, 2 - 0.5*(-0.5)] = [0, -0.25, 2.25]
    #   row 2: all masked -> zeros (score dropped)
    out = sequence_to_token_rewards(scores, mask, kl, kl_coef=0.5)
    torch.testing.assert_close(
        out, torch.tensor([[-0.05, 0.9, 0.0], [0.0, -0.25, 2.25], [0.0, 0.0, 0.0]])
    )
    no_kl = sequence_to_token_rewards(scores, mask)
    torch.testing.assert_close(
        no_kl, torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    )


def test_sequence_to_token_rewards_then_group_advantage_recovers_the_scores() -> None:
    # Without KL the token rewards of a row sum to its score, so GRPO sees the scores.
    scores = torch.tensor([0.0, 1.0, 2.0, 4.0])
    mask = torch.tensor([[T, F, F], [T, T, F], [T, T, T], [F, T, F]])
    token_rewards = sequence_to_token_rewards(scores, mask)
    torch.testing.assert_close(token_rewards.sum(dim=-1), scores)
    # group (0, 1): mean 0.5 -> [-0.5, 0.5]; group (2, 3): mean 3 -> [-1, 1]
    out = drgrpo_advantages(token_rewards, mask, group_size=2)
    torch.testing.assert_close(out.advantages[:, 1], torch.tensor([0.0, 0.5, -1.0, 1.0]))
