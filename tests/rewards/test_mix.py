"""Reward mixing (RLLR eq. 4, weighted sum), normalisation, and running moments."""

from __future__ import annotations

import pytest
import torch

from rllr.rewards.mix import (
    MIXES,
    Moments,
    RunningMoments,
    clip_scores,
    combine_moments,
    mix_rewards,
    normalize_scores,
    rllr_mixed_reward,
    weighted_sum,
)


def test_rllr_mixed_reward_hand_computed() -> None:
    # lambda = 5: min(1, 5) + 0.5 = 1.5; min(5, 5) + 0.2 = 5.2; min(7, 5) - 0.3 = 4.7
    label = torch.tensor([1.0, 5.0, 7.0])
    rationale = torch.tensor([0.5, 0.2, -0.3])
    out = rllr_mixed_reward(label, rationale, lam=5.0)
    torch.testing.assert_close(out, torch.tensor([1.5, 5.2, 4.7]))
    assert torch.equal(label, torch.tensor([1.0, 5.0, 7.0]))  # input untouched


def test_rllr_mix_above_the_cap_only_the_rationale_matters() -> None:
    # Both label scores exceed lambda = 2, so the reward difference is the rationale one.
    out = rllr_mixed_reward(torch.tensor([3.0, 9.0]), torch.tensor([0.1, 0.4]), lam=2.0)
    torch.testing.assert_close(out, torch.tensor([2.1, 2.4]))


def test_weighted_sum_hand_computed() -> None:
    # 0.5 * [1, 2] + 0.1 * [10, 20] = [0.5 + 1, 1 + 2] = [1.5, 3.0]
    scores = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([10.0, 20.0])}
    out = weighted_sum(scores, {"a": 0.5, "b": 0.1})
    torch.testing.assert_close(out, torch.tensor([1.5, 3.0]))


def test_weighted_sum_rejects_mismatched_sources() -> None:
    scores = {"a": torch.tensor([1.0]), "b": torch.tensor([2.0])}
    with pytest.raises(ValueError, match="must match"):
        weighted_sum(scores, {"a": 1.0})
    with pytest.raises(ValueError, match="must match"):
        weighted_sum(scores, {"a": 1.0, "b": 1.0, "c": 1.0})
    with pytest.raises(ValueError, match="must match"):
        weighted_sum({}, {})


def test_mixes_share_one_signature() -> None:
    scores = {"label": torch.tensor([1.0, 7.0]), "rationale": torch.tensor([0.5, -0.3])}
    assert set(MIXES) == {"sum", "rllr"}
    # rllr, lambda 5: [1 + 0.5, 5 - 0.3] = [1.5, 4.7]
    torch.testing.assert_close(
        mix_rewards(scores, {"lam": 5.0}, kind="rllr"), torch.tensor([1.5, 4.7])
    )
    # sum with weights 1, 2: [1 + 1.0, 7 - 0.6] = [2.0, 6.4]
    torch.testing.assert_close(
        mix_rewards(scores, {"label": 1.0, "rationale": 2.0}), torch.tensor([2.0, 6.4])
    )


def test_normalize_and_clip_scores() -> None:
    # (x - 2) / (1 + 1e-8) = [-1, 0, 1]
    torch.testing.assert_close(
        normalize_scores(torch.tensor([1.0, 2.0, 3.0]), 2.0, 1.0), torch.tensor([-1.0, 0.0, 1.0])
    )
    torch.testing.assert_close(
        clip_scores(torch.tensor([-5.0, 0.5, 5.0]), 1.0), torch.tensor([-1.0, 0.5, 1.0])
    )
    with pytest.raises(ValueError, match="clip"):
        clip_scores(torch.zeros(1), 0.0)


def test_combine_moments_hand_computed() -> None:
    # a = [1, 2, 3]: n 3, mean 2, M2 = 1 + 0 + 1 = 2
    # b = [4, 5]:    n 2, mean 4.5, M2 = 0.25 + 0.25 = 0.5
    # delta = 2.5; mean = 2 + 2.5 * 2/5 = 3; M2 = 2 + 0.5 + 2.5^2 * 3 * 2 / 5 = 2.5 + 7.5 = 10
    # check: [1..5] has mean 3 and M2 = 4 + 1 + 0 + 1 + 4 = 10
    out = combine_moments(Moments(3.0, 2.0, 2.0), Moments(2.0, 4.5, 0.5))
    assert out == pytest.approx(Moments(5.0, 3.0, 10.0))
    empty = Moments(0.0, 0.0, 0.0)
    assert combine_moments(empty, empty) == empty


def test_running_moments_match_the_whole_data() -> None:
    g = torch.Generator().manual_seed(0)
    data = 3.0 + 2.0 * torch.randn(97, generator=g, dtype=torch.float64)
    rm = RunningMoments()
    for chunk in torch.split(data, [1, 40, 0, 56]):  # includes a single and an empty batch
        rm.update(chunk)
    assert rm.mean == pytest.approx(data.mean().item())
    assert rm.std == pytest.approx(data.std().item())  # unbiased
    resumed = RunningMoments()
    resumed.load_state_dict(rm.state_dict())
    assert (resumed.mean, resumed.std) == (rm.mean, rm.std)


def test_running_moments_single_score_has_zero_std() -> None:
    rm = RunningMoments()
    rm.update(torch.tensor([4.0]))
    assert (rm.mean, rm.std) == (4.0, 0.0)
