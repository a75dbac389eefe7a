"""Reward sources by name, their config, and turning per-source scores into one reward.

Every entry of `REWARD_SOURCES` has the signature `(ScoreInputs) -> Tensor[B]`:

    judgement     rule: <Judgement>label</Judgement> 1 / 0 / -1 (STS-B 2.5 - |err| / -2.5)
    answer        rule: RLLR "The answer is: X", strict parse, same scale
    squad_em      rule: exact match, -1 for no parseable answer
    squad_f1      rule: word F1, -1 for no parseable answer
    rm_label      reward model: label-sensitive RM adapter (RLLR r_phi1)
    rm_rationale  reward model: rationale-sensitive RM adapter (RLLR r_phi2)

`shape_rewards` mixes the scores (`rllr.rewards.mix`: "sum" = weighted sum, "rllr" =
eq. 4, min(r_label, lambda) + r_rationale), then optionally normalises by running
moments and clips. The loop logs every score as `reward/<source>/mean` and the mix as
`reward/mix/mean`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import torch
from torch import Tensor

from rllr.config import check
from rllr.rewards import rule
from rllr.rewards.mix import (
    LABEL,
    RATIONALE,
    RunningMoments,
    clip_scores,
    mix_rewards,
    normalize_scores,
)
from rllr.rewards.reward_model import rm_scores
from rllr.tasks.base import Example, Format, Task

SourceName = Literal["judgement", "answer", "squad_em", "squad_f1", "rm_label", "rm_rationale"]


@dataclass(frozen=True)
class ScoreInputs:
    """What a reward source may look at, for B = prompts * G sampled completions."""

    completions: Sequence[str]
    """B completion texts (after the response prefix, special tokens removed)."""
    examples: Sequence[Example]
    """B examples (the prompt's example, repeated G times)."""
    tasks: Sequence[Task]
    """B tasks."""
    fmt: Format
    """Answer format of the prompts."""
    input_ids: Tensor | None = None
    """`[B, L]` query + response ids (for reward models)."""
    attention_mask: Tensor | None = None
    """`[B, L]` 1 = real token."""
    model: Any = None
    """The `AdapterModel` holding the RM adapters."""


def _rule(fn: Callable[[str, Example, Task], float]) -> Callable[[ScoreInputs], Tensor]:
    def source(inp: ScoreInputs) -> Tensor:
        return torch.tensor([fn(c, e, t) for c, e, t in zip(inp.completions, inp.examples, inp.tasks,
                                                             strict=True)], dtype=torch.float32)
    source.__doc__ = fn.__doc__
    return source


def _squad(fn: Callable[..., float]) -> Callable[[ScoreInputs], Tensor]:
    def source(inp: ScoreInputs) -> Tensor:
        return torch.tensor([fn(c, e, t, inp.fmt) for c, e, t in
                             zip(inp.completions, inp.examples, inp.tasks, strict=True)],
                            dtype=torch.float32)
    return source


def _rm(name: str) -> Callable[[ScoreInputs], Tensor]:
    def source(inp: ScoreInputs) -> Tensor:
        if inp.model is None or inp.input_ids is None or inp.attention_mask is None:
            raise ValueError(f"reward source {name!r} needs the model and token ids")
        return rm_scores(inp.model, name, inp.input_ids, inp.attention_mask).cpu()
    return source


REWARD_SOURCES: Final[Mapping[SourceName, Callable[[ScoreInputs], Tensor]]] = {
    "judgement": _rule(rule.judgement_reward),
    "answer": _rule(rule.answer_template_reward),
    "squad_em": _squad(rule.squad_em_reward),
    "squad_f1": _squad(rule.squad_f1_reward),
    "rm_label": _rm("rm_label"),
    "rm_rationale": _rm("rm_rationale"),
}
RM_SOURCES: Final = ("rm_label", "rm_rationale")


@dataclass(frozen=True)
class RewardConfig:
    """Which reward sources score a completion and how they are combined."""

    sources: dict[str, float] = field(default_factory=lambda: {"judgement": 1.0})
    """Source name -> weight (weights are used by mix="sum"; see REWARD_SOURCES)."""
    mix: Literal["sum", "rllr"] = "sum"
    """"sum": weighted sum; "rllr": RLLR eq. 4, min(r_label, lam) + r_rationale."""
    lam: float = 3.9
    """RLLR eq. 4 cap on the label-RM score (the authors' code uses 3.9 for LLaMA2-7B)."""
    rm_label: str | None = None
    """Peft adapter folder (with head.safetensors) of the label-sensitive reward model."""
    rm_rationale: str | None = None
    """Peft adapter folder (with head.safetensors) of the rationale-sensitive reward model."""
    normalize: bool = False
    """Normalise the mixed reward by the running mean/std of all rewards seen so far."""
    clip: float | None = None
    """Clip the (normalised) reward to [-clip, clip]; None = no clipping."""

    def __post_init__(self) -> None:
        check(len(self.sources) > 0, "rewards.sources must name at least one source")
        for name in self.sources:
            check(name in REWARD_SOURCES,
                  f"rewards.sources: unknown source {name!r} (known: {', '.join(REWARD_SOURCES)})")
        if self.mix == "rllr":
            check(set(self.sources) == set(RM_SOURCES),
                  "rewards.mix=rllr needs exactly the sources rm_label and rm_rationale")
        for name in RM_SOURCES:
            if name in self.sources:
                check(getattr(self, name) is not None, f"rewards.{name}: source used but no adapter path")
        check(self.clip is None or self.clip > 0, f"rewards.clip must be > 0, got {self.clip}")


def score_sources(cfg: RewardConfig, inp: ScoreInputs) -> dict[str, Tensor]:
    """Each configured source's `[B]` float32 scores, keyed by source name."""
    return {name: REWARD_SOURCES[name](inp) for name in cfg.sources}  # type: ignore[index]


def shape_rewards(cfg: RewardConfig, scores: Mapping[str, Tensor],
                  moments: RunningMoments | None = None) -> Tensor:
    """Mix the scores into `[B]` rewards, then (optionally) normalise and clip.

    With `cfg.normalize`, `moments` is updated with the raw mixed rewards first (so the
    first batch is normalised by its own statistics).
    """
    if cfg.mix == "rllr":
        rewards = mix_rewards({LABEL: scores["rm_label"], RATIONALE: scores["rm_rationale"]},
                              {"lam": cfg.lam}, kind="rllr")
    else:
        rewards = mix_rewards(dict(scores), dict(cfg.sources), kind="sum")
    if cfg.normalize:
        if moments is None:
            raise ValueError("rewards.normalize needs a RunningMoments")
        moments.update(rewards)
        rewards = normalize_scores(rewards, moments.mean, moments.std if moments.std > 0 else 1.0)
    if cfg.clip is not None:
        rewards = clip_scores(rewards, cfg.clip)
    return rewards


def reward_preset(name: str) -> dict[str, Any]:
    """Config overrides for the `--reward` names of `rllr ppo` (rllr_mixed = RLLR eq. 4)."""
    if name == "rllr_mixed":
        return {"sources": {"rm_label": 1.0, "rm_rationale": 1.0}, "mix": "rllr"}
    check(name in REWARD_SOURCES, f"--reward: unknown {name!r}")
    return {"sources": {name: 1.0}, "mix": "sum"}
