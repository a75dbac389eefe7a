"""PPO policy/value losses, entropy, Bradley-Terry, explained variance: values and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from rllr.rl.losses import (
    bradley_terry_loss,
    entropy_from_logits,
    explained_variance,
    ppo_policy_loss,
    value_loss,
)

T, F = True, False

# --- PPO policy loss -------------------------------------------------------------------

# One row, five tokens, clip_eps = 0.2, old log-prob -1 everywhere.
RATIOS = [1.5, 0.5, 1.0, 1.1, 0.5]
ADVS = [1.0, 1.0, -1.0, -2.0, -1.0]
#   t  ratio  A    -A*ratio   -A*clip(ratio, 0.8, 1.2)   max     clipped branch wins?
#   0  1.5    1    -1.5       -1.2                       -1.2    yes
#   1  0.5    1    -0.5       -0.8                       -0.5    no
#   2  1.0   -1     1.0        1.0                        1.0    no (equal)
#   3  1.1   -2     2.2        2.2                        2.2    no
#   4  0.5   -1     0.5        0.8                        0.8    yes
# token-mean: (-1.2 - 0.5 + 1.0 + 2.2 + 0.8) / 5 = 2.3 / 5 = 0.46; clipfrac 2 / 5 = 0.4
# approx_kl = mean of (ratio - 1) - ln(ratio):
#   1.5: 0.5 - 0.405465 = 0.094535;  0.5: -0.5 + 0.693147 = 0.193147;  1.0: 0
#   1.1: 0.1 - 0.095310 = 0.004690;  0.5: 0.193147
#   (0.094535 + 0.193147 + 0 + 0.004690 + 0.193147) / 5 = 0.485519 / 5 = 0.097104


def _policy_inputs(
    ratios: list[float], advs: list[float]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    old = torch.full((1, len(ratios)), -1.0)
    logprobs = (old + torch.tensor([ratios]).log()).requires_grad_(True)
    mask = torch.ones(1, len(ratios), dtype=torch.bool)
    return logprobs, old, torch.tensor([advs]), mask


def test_ppo_policy_loss_hand_computed() -> None:
    logprobs, old, advs, mask = _policy_inputs(RATIOS, ADVS)
    out = ppo_policy_loss(logprobs, old, advs, mask, clip_eps=0.2)
    torch.testing.assert_close(out.loss, torch.tensor(0.46))
    torch.testing.assert_close(out.clipfrac, torch.tensor(0.4))
    torch.testing.assert_close(out.approx_kl, torch.tensor(0.097104), atol=1e-6, rtol=0)
    assert not out.clipfrac.requires_grad and not out.approx_kl.requires_grad


def test_ppo_policy_loss_ignores_masked_tokens() -> None:
    # Mask out tokens 0 and 4 (the two clipped ones): (-0.5 + 1.0 + 2.2) / 3 = 0.9; clipfrac 0
    logprobs, old, advs, _ = _policy_inputs(RATIOS, ADVS)
    mask = torch.tensor([[F, T, T, T, F]])
    out = ppo_policy_loss(logprobs, old, advs, mask)
    torch.testing.assert_close(out.loss, torch.tensor(0.9))
    torch.testing.assert_close(out.clipfrac, torch.tensor(0.0))
    out.loss.backward()
    assert logprobs.grad is not None
    assert logprobs.grad[0, 0] == 0 and logprobs.grad[0, 4] == 0


def test_clip_eps_high_widens_the_upper_bound_only() -> None:
    # ratio 1.25, A = 1: symmetric clip -> max(-1.25, -1.2) = -1.2
    #   clip_eps_high = 0.28: 1.25 < 1.28, so max(-1.25, -1.25) = -1.25
    logprobs, old, advs, mask = _policy_inputs([1.25], [1.0])
    sym = ppo_policy_loss(logprobs, old, advs, mask, clip_eps=0.2)
    high = ppo_policy_loss(logprobs, old, advs, mask, clip_eps=0.2, clip_eps_high=0.28)
    torch.testing.assert_close(sym.loss, torch.tensor(-1.2))
    torch.testing.assert_close(high.loss, torch.tensor(-1.25))


def test_dual_clip_bounds_negative_advantages_only() -> None:
    # ratio 5:  A = -1: max(5, 1.2) = 5 -> dual clip 3: min(5, -(-1)*3) = 3
    #           A = +1: max(-5, -1.2) = -1.2, untouched by the dual clip
    logprobs, old, advs, mask = _policy_inputs([5.0, 5.0], [-1.0, 1.0])
    out = ppo_policy_loss(
        logprobs, old, advs, mask, dual_clip=3.0, aggregation="seq-mean-token-sum"
    )
    # sum over the row: 3 + (-1.2) = 1.8
    torch.testing.assert_close(out.loss, torch.tensor(1.8))
    plain = ppo_policy_loss(logprobs, old, advs, mask, aggregation="seq-mean-token-sum")
    torch.testing.assert_close(plain.loss, torch.tensor(5.0 - 1.2))
    with pytest.raises(ValueError, match="dual_clip"):
        ppo_policy_loss(logprobs, old, advs, mask, dual_clip=1.0)


def test_zero_advantage_gives_zero_policy_gradient() -> None:
    logprobs, old, _, mask = _policy_inputs([0.7, 1.0, 1.3], [0.0, 0.0, 0.0])
    ppo_policy_loss(logprobs, old, torch.zeros(1, 3), mask).loss.backward()
    assert logprobs.grad is not None
    assert torch.equal(logprobs.grad, torch.zeros(1, 3))


def test_advantage_sign_sets_the_direction_of_the_update() -> None:
    # Inside the clip range d(-A * ratio)/d logprob = -A * ratio: a descent step raises the
    # log-prob when A > 0 and lowers it when A < 0.
    logprobs, old, advs, mask = _policy_inputs([1.0, 1.0], [2.0, -2.0])
    ppo_policy_loss(logprobs, old, advs, mask).loss.backward()
    assert logprobs.grad is not None
    # token-mean over 2 tokens: grad = -A * ratio / 2 = [-1, 1]
    torch.testing.assert_close(logprobs.grad, torch.tensor([[-1.0, 1.0]]))
    stepped = logprobs.detach() - 0.1 * logprobs.grad
    assert stepped[0, 0] > logprobs[0, 0] and stepped[0, 1] < logprobs[0, 1]


def test_clipped_ratio_gives_zero_gradient() -> None:
    # ratio 1.5 with A > 0 and ratio 0.5 with A < 0 are both on the clipped branch.
    logprobs, old, advs, mask = _policy_inputs([1.5, 0.5], [1.0, -1.0])
    out = ppo_policy_loss(logprobs, old, advs, mask)
    out.loss.backward()
    assert logprobs.grad is not None
    assert torch.equal(logprobs.grad, torch.zeros(1, 2))
    torch.testing.assert_close(out.clipfrac, torch.tensor(1.0))


def test_policy_loss_two_shards_sum_to_the_whole_batch() -> None:
    g = torch.Generator().manual_seed(0)
    old = -torch.rand(6, 5, generator=g)
    logprobs = old + 0.3 * torch.randn(6, 5, generator=g)
    advs = torch.randn(6, 5, generator=g)
    mask = torch.arange(5) < torch.tensor([5, 2, 1, 4, 3, 5])[:, None]
    whole = ppo_policy_loss(logprobs, old, advs, mask).loss
    n = mask.sum()
    halves = [
        ppo_policy_loss(logprobs[s], old[s], advs[s], mask[s], num_tokens=n).loss
        for s in (slice(0, 2), slice(2, 6))
    ]
    torch.testing.assert_close(halves[0] + halves[1], whole)


# --- value loss ------------------------------------------------------------------------


def test_value_loss_hand_computed() -> None:
    # clip_eps = 0.2
    #   t  V    V_old  R    V_clip = V_old + clip(V - V_old)   (V-R)^2   (V_clip-R)^2   max
    #   0  1.0  0.5    2.0  0.5 + 0.2 = 0.7                    1         1.69           1.69
    #   1  2.0  2.0    1.0  2.0                                1         1              1
    #   2  0.0  1.0    0.0  1.0 - 0.2 = 0.8                    0         0.64           0.64
    # loss = 0.5 * (1.69 + 1 + 0.64) / 3 = 0.5 * 1.11 = 0.555; clipfrac = 2 / 3
    # unclipped: 0.5 * (1 + 1 + 0) / 3 = 1/3
    values = torch.tensor([[1.0, 2.0, 0.0]], requires_grad=True)
    old_values = torch.tensor([[0.5, 2.0, 1.0]])
    returns = torch.tensor([[2.0, 1.0, 0.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    out = value_loss(values, old_values, returns, mask, clip_eps=0.2)
    torch.testing.assert_close(out.loss, torch.tensor(0.555))
    torch.testing.assert_close(out.clipfrac, torch.tensor(2.0 / 3.0))
    plain = value_loss(values, old_values, returns, mask)
    torch.testing.assert_close(plain.loss, torch.tensor(1.0 / 3.0))
    torch.testing.assert_close(plain.clipfrac, torch.tensor(0.0))
    # Where the clipped error wins (t = 0, 2) V is clamped: no gradient. At t = 1 the
    # unclipped branch gives d/dV 0.5 * (V - R)^2 / 3 = (2 - 1) / 3.
    out.loss.backward()
    assert values.grad is not None
    torch.testing.assert_close(values.grad, torch.tensor([[0.0, 1.0 / 3.0, 0.0]]))


# --- entropy ---------------------------------------------------------------------------


def test_entropy_hand_computed() -> None:
    # uniform over 4: ln 4 = 1.386294
    # logits [0, ln 3] -> p = [0.25, 0.75]:
    #   H = 0.25 ln 4 + 0.75 ln(4/3) = 0.346574 + 0.215762 = 0.562335
    # one huge logit: H ~ 0
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), -1e4, -1e4]]])
    logits = torch.cat([logits, torch.tensor([[[50.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]])])
    expected = torch.tensor([[1.386294, 0.562335], [0.0, 1.386294]])
    torch.testing.assert_close(entropy_from_logits(logits), expected, atol=1e-5, rtol=0)


def test_entropy_matches_categorical() -> None:
    logits = torch.randn(3, 4, 11, generator=torch.Generator().manual_seed(1))
    expected = torch.distributions.Categorical(logits=logits).entropy()
    torch.testing.assert_close(entropy_from_logits(logits), expected)
    torch.testing.assert_close(entropy_from_logits(logits, chunk_rows=5), expected)  # 12 rows: 5+5+2


# --- Bradley-Terry ---------------------------------------------------------------------


def test_bradley_terry_hand_computed() -> None:
    # diffs [2, 0]: -ln sigmoid(2) = ln(1 + e^-2) = 0.126928; -ln sigmoid(0) = ln 2 = 0.693147
    #   mean (0.126928 + 0.693147) / 2 = 0.410038; accuracy: 2 > 0 yes, 0 > 0 no -> 0.5
    # margin 1: diffs [1, -1]: ln(1 + e^-1) = 0.313262; ln(1 + e) = 1.313262 -> mean 0.813262
    chosen = torch.tensor([2.0, 0.0], requires_grad=True)
    rejected = torch.tensor([0.0, 0.0])
    out = bradley_terry_loss(chosen, rejected)
    torch.testing.assert_close(out.loss, torch.tensor(0.410038))
    torch.testing.assert_close(out.accuracy, torch.tensor(0.5))
    torch.testing.assert_close(
        bradley_terry_loss(chosen, rejected, margin=1.0).loss, torch.tensor(0.813262)
    )
    # A descent step raises the chosen scores: d loss / d chosen < 0.
    out.loss.backward()
    assert chosen.grad is not None
    assert (chosen.grad < 0).all()


# --- explained variance ----------------------------------------------------------------


def test_explained_variance_hand_computed() -> None:
    # R = [1, 2, 3], V = [1, 2, 2]; error R - V = [0, 0, 1] (4th slot masked)
    #   Var[error] = ((1/3)^2 + (1/3)^2 + (2/3)^2) / 3 = (6/9) / 3 = 2/9
    #   Var[R] = (1 + 0 + 1) / 3 = 2/3;  EV = 1 - (2/9) / (2/3) = 1 - 1/3 = 2/3
    returns = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    values = torch.tensor([[1.0, 2.0, 2.0, -50.0]])
    mask = torch.tensor([[T, T, T, F]])
    torch.testing.assert_close(explained_variance(values, returns, mask), torch.tensor(2.0 / 3.0))
    torch.testing.assert_close(explained_variance(returns, returns, mask), torch.tensor(1.0))
    constant = torch.ones(1, 4)
    assert explained_variance(values, constant, mask).isnan()
