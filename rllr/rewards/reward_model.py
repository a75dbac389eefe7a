"""Reward-model scores from the `rm_label` / `rm_rationale` adapters of one `AdapterModel`.

A reward model here is a LoRA adapter plus a scalar head on the shared frozen base
(`rllr.models.adapters`); its score is the head at the last real token of
(rendered prompt + completion), which is how `rllr.train.reward_model` trains it
(RLLR section 3.2: r_phi(q, a)). No model copy is made: scoring switches adapters.

RLLR names: `rm_label` is the label-sensitive RM (r_phi1, pairs differ in the label),
`rm_rationale` the rationale-sensitive RM (r_phi2, the usual RLHF RM on rationales).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import torch
from torch import Tensor

from rllr.errors import ConfigError

RM_ADAPTERS: Final = ("rm_label", "rm_rationale")
"""Adapter names of the two reward models."""


@torch.no_grad()
def rm_scores(model: Any, name: str, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Scores `[B]` (float32) of adapter `name` on token ids `[B, L]` (any padding side)."""
    scores: Tensor = model.sequence_scores(name, input_ids, attention_mask)
    return scores.float()


@torch.no_grad()
def score_texts(model: Any, tokenizer: Any, name: str, prompts: Sequence[str],
                completions: Sequence[str], *, batch_size: int = 16) -> Tensor:
    """Scores `[N]` of rendered prompts + completions (for evaluation outside a rollout)."""
    texts = [p + c for p, c in zip(prompts, completions, strict=True)]
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True,
                        add_special_tokens=False)
        out.append(rm_scores(model, name, enc["input_ids"], enc["attention_mask"]))
    return torch.cat(out) if out else torch.zeros(0)


def attach_reward_models(model: Any, paths: Mapping[str, str | None]) -> list[str]:
    """Load the RM adapters named in `paths` (name -> peft adapter dir) as frozen adapters.

    Returns the names loaded. A missing folder or head is a one-line `ConfigError`.
    """
    loaded = []
    for name, path in paths.items():
        if path is None:
            continue
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise ConfigError(f"rewards.{name}: {folder} is not a peft adapter folder")
        model.load_adapter(name, folder, trainable=False)
        if name not in model.heads:
            raise ConfigError(f"rewards.{name}: {folder} has no scalar head (head.safetensors)")
        loaded.append(name)
    return loaded
