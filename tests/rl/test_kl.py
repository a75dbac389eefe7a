"""KL estimators (Schulman's k1/k2/k3) and the KL-coefficient controllers."""

from __future__ import annotations

import math

import pytest
import torch

from rllr.rl.kl import (
    AdaptiveKLController,
    FixedKLController,
    adaptive_kl_update,
    kl_penalty,
)


def test_kl_estimators_hand_computed() -> None:
    # p = 0.5, q = 0.25: log p - log q = ln 2 = 0.693147; r = q / p = 0.5
    #   k1 = 0.693147; k2 = 0.5 * 0.693147^2 = 0.240227; k3 = (0.5 - 1) - ln 0.5 = 0.193147
    # p = 0.25, q = 0.5: log p - log q = -0.693147; r = 2
    #   k1 = -0.693147; k2 = 0.240227; k3 = (2 - 1) - ln 2 = 0.306853
    logprobs = torch.tensor([[math.log(0.5), math.log(0.25)]])
    ref = torch.tensor([[math.log(0.25), math.log(0.5)]])
    expected = {
        "k1": [0.693147, -0.693147],
        "k2": [0.240227, 0.240227],
        "k3": [0.193147, 0.306853],
        "abs": [0.693147, 0.693147],
    }
    for kind, values in expected.items():
        torch.testing.assert_close(
            kl_penalty(logprobs, ref, kind),  # type: ignore[arg-type]
            torch.tensor([values]),
            atol=1e-6,
            rtol=0,
        )


def test_k2_and_k3_are_nonnegative_and_zero_at_equality() -> None:
    g = torch.Generator().manual_seed(0)
    logprobs, ref = -3 * torch.rand(64, 32, generator=g), -3 * torch.rand(64, 32, generator=g)
    assert (kl_penalty(logprobs, ref, "k3") >= 0).all()
    assert (kl_penalty(logprobs, ref, "k2") >= 0).all()
    assert torch.equal(kl_penalty(logprobs, logprobs, "k3"), torch.zeros(64, 32))


def test_k1_and_k3_means_approximate_the_true_kl_on_samples() -> None:
    # p = [0.5, 0.3, 0.2], q = [0.2, 0.3, 0.5]
    # KL(p||q) = 0.5 ln 2.5 + 0.3 ln 1 + 0.2 ln 0.4 = (0.5 - 0.2) * 0.916291 = 0.274887
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.3, 0.5])
    x = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(1))
    logprobs, ref = p.log()[x], q.log()[x]
    true_kl = torch.tensor(0.274887)
    # k1 std ~ 0.9 / sqrt(2e5) = 0.002; 0.01 is ~5 standard errors
    torch.testing.assert_close(kl_penalty(logprobs, ref, "k1").mean(), true_kl, atol=0.01, rtol=0)
    torch.testing.assert_close(kl_penalty(logprobs, ref, "k3").mean(), true_kl, atol=0.01, rtol=0)


def test_kl_penalty_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown KL"):
        kl_penalty(torch.zeros(1, 1), torch.zeros(1, 1), "k4")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current_kl", "expected"),
    [
        # coef 0.1, target 6, horizon 10000, n_steps 256: n_steps / horizon = 0.0256
        (6.0, 0.1),  # e = 6/6 - 1 = 0 -> unchanged
        (6.6, 0.1 * (1 + 0.1 * 0.0256)),  # e = 0.1 -> 0.1 * 1.00256 = 0.100256
        (9.0, 0.1 * (1 + 0.2 * 0.0256)),  # e = 0.5, clipped to 0.2 -> 0.100512
        (3.0, 0.1 * (1 - 0.2 * 0.0256)),  # e = -0.5, clipped to -0.2 -> 0.099488
    ],
)
def test_adaptive_kl_update_hand_computed(current_kl: float, expected: float) -> None:
    assert adaptive_kl_update(0.1, current_kl, 6.0, 10000.0, 256) == pytest.approx(expected)


def test_adaptive_controller_follows_the_pure_update_and_checkpoints() -> None:
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10000.0)
    ctl.update(9.0, 256)
    assert ctl.value == pytest.approx(0.100512)
    ctl.update(3.0, 256)
    assert ctl.value == pytest.approx(0.100512 * (1 - 0.2 * 0.0256))
    resumed = AdaptiveKLController(0.1, target=6.0, horizon=10000.0)
    resumed.load_state_dict(ctl.state_dict())
    assert resumed.value == ctl.value
    with pytest.raises(ValueError, match="must be > 0"):
        AdaptiveKLController(0.1, target=0.0, horizon=10000.0)


def test_fixed_controller_never_moves() -> None:
    ctl = FixedKLController(0.05)
    ctl.update(100.0, 256)
    assert ctl.value == 0.05
    other = FixedKLController(0.0)
    other.load_state_dict(ctl.state_dict())
    assert other.value == 0.05
