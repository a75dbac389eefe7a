"""Mixing per-source reward scores into one reward per sequence, and score normalisation.

Shapes: B = batch. A *score* is one reward source's `[B]` tensor (`scores["label"]`);
the *reward* is their mix, `[B]`. Keep the per-source scores next to the mix so the loop
can log `reward/<source>/mean` for each.

Every entry of `MIXES` has the signature `(scores, params) -> rewards`, with `params` a
`Mapping[str, float]` whose meaning belongs to the mix:
  "sum":  params are per-source weights; rewards = sum_k w_k * scores[k].
  "rllr": params = {"lam": lambda}; needs scores "label" and "rationale" (RLLR eq. 4).

`RunningMoments` is the one stateful helper here (the loop owns it and checkpoints its
`state_dict()`); its update math is the pure `combine_moments`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, Literal, NamedTuple, Protocol

import torch
from torch import Tensor

MixName = Literal["sum", "rllr"]
LABEL: Final = "label"
"""Score key of the label reward model (adapter `rm_label`) in the "rllr" mix."""
RATIONALE: Final = "rationale"
"""Score key of the rationale reward model (adapter `rm_rationale`) in the "rllr" mix."""


class Mix(Protocol):
    """The one signature that every entry of `MIXES` has."""

    def __call__(self, scores: Mapping[str, Tensor], params: Mapping[str, float], /) -> Tensor: ...


def rllr_mixed_reward(label_scores: Tensor, rationale_scores: Tensor, lam: float) -> Tensor:
    """RLLR mixed reward ("Reinforcement Learning with Label-sensitive Reward for NLU",
    ACL 2024, eq. 4):

        r_M = min(r_label, lambda) + r_rationale

    Eq. 4 is written piecewise (r_label + r_rationale if r_label < lambda, else
    lambda + r_rationale), which is the same thing. The cap keeps the label reward model,
    whose scores grow to ~5, from drowning out the rationale one (~1).

    Args:
        label_scores: `[B]`.
        rationale_scores: `[B]`.
        lam: cap lambda on the label score.

    Returns:
        `[B]` rewards.
    """
    return label_scores.clamp(max=lam) + rationale_scores


def rllr_mix(scores: Mapping[str, Tensor], params: Mapping[str, float]) -> Tensor:
    """`rllr_mixed_reward(scores["label"], scores["rationale"], params["lam"])`, `[B]`."""
    return rllr_mixed_reward(scores[LABEL], scores[RATIONALE], params["lam"])


def weighted_sum(scores: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    """rewards = sum_k weights[k] * scores[k].

    The two mappings must have the same keys (a source without a weight, or a weight
    without a source, is almost always a config typo), else ValueError.

    Args:
        scores: source name -> `[B]` scores.
        weights: source name -> weight.

    Returns:
        `[B]` rewards.
    """
    if set(scores) != set(weights) or not scores:
        raise ValueError(f"score sources {sorted(scores)} and weights {sorted(weights)} must match")
    return torch.stack([weights[k] * scores[k] for k in sorted(scores)]).sum(dim=0)


MIXES: Final[Mapping[MixName, Mix]] = {"sum": weighted_sum, "rllr": rllr_mix}


def mix_rewards(
    scores: Mapping[str, Tensor], params: Mapping[str, float], *, kind: MixName = "sum"
) -> Tensor:
    """`MIXES[kind](scores, params)`: the `[B]` reward of the named mix."""
    return MIXES[kind](scores, params)


def normalize_scores(
    scores: Tensor, mean: Tensor | float, std: Tensor | float, eps: float = 1e-8
) -> Tensor:
    """(scores - mean) / (std + eps), shape preserved."""
    return (scores - mean) / (std + eps)


def clip_scores(scores: Tensor, clip: float) -> Tensor:
    """Clamp scores to [-clip, clip] (clip > 0), shape preserved."""
    if clip <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    return scores.clamp(-clip, clip)


class Moments(NamedTuple):
    """Count n, mean and sum of squared deviations (M2) of a sample."""

    n: float
    mean: float
    m2: float


def combine_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two samples (Chan, Golub & LeVeque 1979, parallel update):

        n     = n_a + n_b
        delta = mean_b - mean_a
        mean  = mean_a + delta * n_b / n
        M2    = M2_a + M2_b + delta^2 * n_a * n_b / n

    Exact for any split of the data, and stable where the naive sum of squares is not.
    """
    n = a.n + b.n
    if n == 0:
        return a
    delta = b.mean - a.mean
    mean = a.mean + delta * b.n / n
    m2 = a.m2 + b.m2 + delta**2 * a.n * b.n / n
    return Moments(n, mean, m2)


class RunningMoments:
    """Running mean and std of all scores seen so far, for reward normalisation.

    `update` syncs with the device once (it turns the batch moments into Python floats);
    `mean` and `std` are plain floats to pass to `normalize_scores`. `std` is unbiased
    and is 0 until two scores have been seen.
    """

    def __init__(self) -> None:
        self.moments = Moments(0.0, 0.0, 0.0)

    def update(self, scores: Tensor) -> None:
        """Fold a batch of scores (any shape, all elements) into the running moments."""
        x = scores.detach().double().reshape(-1)
        mean = x.mean() if x.numel() else x.new_zeros(())
        batch = [float(x.numel()), *torch.stack([mean, ((x - mean) ** 2).sum()]).tolist()]
        self.moments = combine_moments(self.moments, Moments(*batch))

    @property
    def mean(self) -> float:
        return self.moments.mean

    @property
    def std(self) -> float:
        return math.sqrt(self.moments.m2 / max(self.moments.n - 1.0, 1.0))

    def state_dict(self) -> dict[str, float]:
        return self.moments._asdict()

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.moments = Moments(float(state["n"]), float(state["mean"]), float(state["m2"]))
