"""Per-token KL estimators and the KL-coefficient controllers.

Estimators follow J. Schulman, "Approximating KL Divergence" (2020,
http://joschu.net/blog/kl-approx.html). With samples x ~ p (the policy that generated
the tokens), log p = `logprobs`, log q = `ref_logprobs` and r = q(x)/p(x):

    k1  = log p - log q = -log r        unbiased for KL(p||q), high variance, can be < 0
    k2  = 1/2 (log p - log q)^2         biased, low variance, >= 0
    k3  = (r - 1) - log r               unbiased for KL(p||q), low variance, >= 0
    abs = |log p - log q|               biased, >= 0 (used by some RLHF codebases)

No clamping is applied: with large log-ratios k3 overflows to inf. Padded positions
should hold finite log-probabilities, or be removed with `torch.where` before use.

Controllers (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences",
sec. 2.2) are the only stateful objects in `rl/`: the loop owns one, feeds it a measured
float KL once per step and saves its `state_dict()` with the checkpoint. Their math is
the pure `adaptive_kl_update`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

KLKind = Literal["k1", "k2", "k3", "abs"]


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, kind: KLKind = "k3") -> Tensor:
    """Per-token estimate of KL(pi || pi_ref) from sampled-token log-probabilities.

    Args:
        logprobs: `[B, T]` log pi(x_t) of the sampled tokens (the sampling policy p).
        ref_logprobs: `[B, T]` log pi_ref(x_t) of the same tokens (q).
        kind: "k1", "k2", "k3" or "abs", see the module docstring.

    Returns:
        `[B, T]` per-token estimates, unmasked (reduce with `masked_mean`).
    """
    log_ratio = logprobs - ref_logprobs  # log p - log q = -log r
    if kind == "k1":
        return log_ratio
    if kind == "k2":
        return 0.5 * log_ratio**2
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio  # (r - 1) - log r
    if kind == "abs":
        return log_ratio.abs()
    raise ValueError(f"unknown KL estimator {kind!r}")


def adaptive_kl_update(
    coef: float, current_kl: float, target: float, horizon: float, n_steps: int
) -> float:
    """One step of the Ziegler et al. (2019) proportional KL controller.

        e     = clip(KL / KL_target - 1, -0.2, 0.2)
        beta <- beta * (1 + e * n_steps / horizon)

    Args:
        coef: current coefficient beta.
        current_kl: measured KL (per sequence, as the target is), a plain float.
        target: KL_target > 0.
        horizon: controller horizon K_beta > 0, in samples.
        n_steps: samples seen since the last update (the batch size).

    Returns:
        The new coefficient.
    """
    error = min(max(current_kl / target - 1.0, -0.2), 0.2)
    return coef * (1.0 + error * n_steps / horizon)


class FixedKLController:
    """A constant KL coefficient with the controller interface."""

    def __init__(self, kl_coef: float) -> None:
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        """No-op: the coefficient is fixed."""

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.value = float(state["value"])


class AdaptiveKLController:
    """The adaptive KL coefficient of Ziegler et al. (2019); see `adaptive_kl_update`.

    Only `value` is checkpointed: `target` and `horizon` come from the config, so a
    resumed run with a new target adapts from the saved coefficient.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        if target <= 0 or horizon <= 0:
            raise ValueError(f"target and horizon must be > 0, got {target}, {horizon}")
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        self.value = adaptive_kl_update(self.value, current_kl, self.target, self.horizon, n_steps)

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.value = float(state["value"])
