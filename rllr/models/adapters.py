"""One frozen base model with named LoRA adapters and scalar heads.

Every role of RLLR and of PPO runs on the same base weights:

    policy        LoRA (trained by PPO)                      -> token logits
    value         LoRA + scalar head (critic, per token)     -> values
    rm_label      LoRA + scalar head (label-sensitive RM)    -> score at the last token
    rm_rationale  LoRA + scalar head (rationale-sensitive RM)-> score at the last token
    reference     all adapters disabled (the merged SFT model)

Adapters are peft LoRA adapters on one `PeftModel`, so they load and save in the
ecosystem's format (`PeftModel.from_pretrained` reads what `save_adapter` writes); a
head is an `nn.Linear(hidden, 1)` saved next to the adapter as `head.safetensors`.
Switching adapters changes which LoRA weights are active; nothing is copied. peft's
`set_adapter` also flips `requires_grad`, so we restore the trainable set after each switch.
Logits are computed only at the positions asked for, which keeps the vocabulary-sized
tensor off the prompt tokens.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

HEAD_FILE = "head.safetensors"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyperparameters for one adapter (RLLR: rank 16 on q/v)."""

    r: int = 16
    """Rank of the update matrices."""
    alpha: int = 32
    """Scaling numerator: the update is scaled by alpha / r."""
    dropout: float = 0.05
    """Dropout on the LoRA input."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Names of the linear layers that get an adapter."""

    def __post_init__(self) -> None:
        from rllr.config import check

        check(self.r > 0, f"lora.r must be positive, got {self.r}")
        check(0.0 <= self.dropout < 1.0, f"lora.dropout must be in [0, 1), got {self.dropout}")
        check(len(self.target_modules) > 0, "lora.target_modules must name at least one module")

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), bias="none", task_type="CAUSAL_LM")


class AdapterModel(nn.Module):
    """A frozen causal LM plus named LoRA adapters and scalar heads (see module doc)."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        for p in base.parameters():
            p.requires_grad_(False)
        self.base = base
        self.peft: Any = None  # PeftModel once the first adapter exists
        self.heads = nn.ModuleDict()
        self.trainable: set[str] = set()
        self._active: str | None = None
        self._checkpointing = False

    # --- adapters ----------------------------------------------------------------------

    @property
    def adapter_names(self) -> list[str]:
        return [] if self.peft is None else list(self.peft.peft_config)

    @property
    def config(self) -> Any:
        return self.base.config

    def add_adapter(self, name: str, settings: LoraSettings, *, head: bool = False,
                    trainable: bool = True, head_init_std: float = 0.0) -> None:
        """Attach a new LoRA adapter `name` (and a scalar head when `head`)."""
        if name in self.adapter_names:
            raise ValueError(f"adapter {name!r} already exists")
        if self.peft is None:
            from peft import get_peft_model

            self.peft = get_peft_model(self.base, settings.peft_config(), adapter_name=name)
        else:
            self.peft.add_adapter(name, settings.peft_config())
        if head:
            self.heads[name] = _new_head(self.hidden_size, head_init_std, self._dtype())
        if trainable:
            self.trainable.add(name)
        self._activate(name)

    def load_adapter(self, name: str, path: str | Path, *, trainable: bool = False) -> None:
        """Load a peft adapter directory (and its head, if saved) under `name`."""
        path = Path(path)
        if self.peft is None:
            from peft import PeftModel

            self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=name,
                                                  is_trainable=trainable)
        else:
            self.peft.load_adapter(str(path), adapter_name=name, is_trainable=trainable)
        if (path / HEAD_FILE).is_file():
            from safetensors.torch import load_file

            state = load_file(str(path / HEAD_FILE))
            self.heads[name] = _new_head(self.hidden_size, 0.0, self._dtype())
            self.heads[name].load_state_dict(state)
        if trainable:
            self.trainable.add(name)
        self._activate(name)

    def copy_adapter(self, src: str, dst: str, *, trainable: bool = True) -> None:
        """A new adapter `dst` initialised from `src` (RLLR: value model from the label RM)."""
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        settings = self.peft.peft_config[src]
        self.peft.add_adapter(dst, settings)
        state = get_peft_model_state_dict(self.peft, adapter_name=src)
        set_peft_model_state_dict(self.peft, state, adapter_name=dst)
        if src in self.heads:
            self.heads[dst] = _new_head(self.hidden_size, 0.0, self._dtype())
            self.heads[dst].load_state_dict(self.heads[src].state_dict())
        if trainable:
            self.trainable.add(dst)
        self._activate(dst)

    def save_adapter(self, name: str, path: str | Path) -> Path:
        """Write adapter `name` in peft format (+ head) into `path` (no subfolder)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.peft.save_pretrained(str(path), selected_adapters=[name])
        nested = path / name  # peft nests non-"default" adapters; flatten for from_pretrained
        if nested.is_dir():
            for f in nested.iterdir():
                f.replace(path / f.name)
            nested.rmdir()
        if name in self.heads:
            state = {k: v.detach().contiguous() for k, v in self.heads[name].state_dict().items()}
            save_file(state, str(path / HEAD_FILE))
        return path

    def parameters_of(self, names: Sequence[str]) -> list[nn.Parameter]:
        """Trainable parameters (LoRA matrices + head) of the given adapters."""
        params: list[nn.Parameter] = []
        for n, p in self.peft.named_parameters():
            if ".lora_" in n and any(f".{a}." in n for a in names):
                params.append(p)
        for a in names:
            if a in self.heads:
                params.extend(self.heads[a].parameters())
        return params

    def set_trainable(self, names: Sequence[str]) -> None:
        self.trainable = set(names)
        self._activate(self._active)

    @contextlib.contextmanager
    def using(self, name: str | None) -> Iterator[None]:
        """Run the body with adapter `name` active, or with all adapters off when None."""
        previous = self._active
        if name is None:
            if self.peft is None:
                yield
                return
            with self.peft.disable_adapter():
                yield
            self._activate(previous)
            return
        self._activate(name)
        try:
            yield
        finally:
            self._activate(previous)

    # --- memory ------------------------------------------------------------------------

    def set_gradient_checkpointing(self, enabled: bool) -> None:
        """Recompute decoder-layer activations in backward (transformers' non-reentrant checkpointing).

        transformers only checkpoints layers in training mode; RL keeps the model in eval mode
        (no dropout), so the decoder layers alone are flagged as training (see `train`). A
        checkpointed layer recomputes under the adapter active at backward time: backward
        each role inside its own `using(...)` block (`rllr.train.ppo_update` does).
        """
        if enabled and not getattr(self.base, "supports_gradient_checkpointing", False):
            from rllr.errors import ConfigError

            raise ConfigError(f"gradient_checkpointing: {type(self.base).__name__} does not support it")
        base = self.base  # transformers 5 renamed gradient_ to activation_checkpointing
        enable = getattr(base, "activation_checkpointing_enable", None) or base.gradient_checkpointing_enable
        disable = getattr(base, "activation_checkpointing_disable", None) or base.gradient_checkpointing_disable
        if enabled:
            enable({"use_reentrant": False})
        elif self._checkpointing:
            disable()
        self._checkpointing = enabled
        self.train(self.training)

    def train(self, mode: bool = True) -> AdapterModel:
        super().train(mode)
        if self._checkpointing:  # the layers' own flag only: LoRA dropout stays as `mode` says
            from transformers.modeling_layers import GradientCheckpointingLayer

            for module in self.base.modules():
                if isinstance(module, GradientCheckpointingLayer):
                    module.training = True
        return self

    # --- forward -------------------------------------------------------------------------

    @property
    def hidden_size(self) -> int:
        cfg = self.base.config
        return int(getattr(cfg, "hidden_size", None) or cfg.get_text_config().hidden_size)

    @property
    def lm(self) -> nn.Module:
        """The causal LM with adapters injected (the PeftModel's inner model)."""
        return self.base if self.peft is None else self.peft.base_model.model

    def body(self) -> nn.Module:
        lm = self.lm
        return getattr(lm, lm.base_model_prefix)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last-layer hidden states [B, L, H] under the currently active adapter."""
        out = self.body()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.last_hidden_state

    def logits_at(self, hidden: torch.Tensor) -> torch.Tensor:
        """LM-head logits for the given hidden states [..., H] -> [..., V]."""
        return self.lm.get_output_embeddings()(hidden)

    def head_scores(self, name: str, hidden: torch.Tensor) -> torch.Tensor:
        """Scalar head `name` on hidden states [B, L, H] -> [B, L] (float32)."""
        head = self.heads[name]
        return head(hidden.to(head.weight.dtype)).squeeze(-1).float()

    def sequence_scores(self, name: str, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Reward-model score [B]: head `name` at the last non-padding token, adapter `name` on."""
        with self.using(name):
            hidden = self.hidden_states(input_ids, attention_mask)
        scores = self.head_scores(name, hidden)
        return scores.gather(1, last_token_index(attention_mask)[:, None]).squeeze(1)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        model = self.base if self.peft is None else self.peft
        return model.generate(*args, **kwargs)

    # --- internals -----------------------------------------------------------------------

    def _dtype(self) -> torch.dtype:
        return torch.float32

    def _activate(self, name: str | None) -> None:
        self.train(self.training)  # new LoRA modules start in train mode; follow ours
        self._active = name
        if self.peft is None or name is None:
            return
        self.peft.base_model.set_adapter(name, inference_mode=True)
        self.peft.active_adapter = name
        if self.trainable:
            self.peft.base_model.set_requires_grad(sorted(self.trainable), True)
        for head_name, head in self.heads.items():
            head.requires_grad_(head_name in self.trainable)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index [B] of the last non-padding token, for left or right padding."""
    L = attention_mask.shape[1]
    positions = torch.arange(L, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, torch.full_like(positions, -1)).amax(dim=1).clamp(min=0)


def _new_head(hidden: int, std: float, dtype: torch.dtype) -> nn.Linear:
    head = nn.Linear(hidden, 1, bias=True, dtype=dtype)
    nn.init.normal_(head.weight, std=std if std > 0 else 1.0 / (hidden + 1) ** 0.5)
    nn.init.zeros_(head.bias)
    return head


def head_config(path: str | Path) -> Mapping[str, Any]:
    p = Path(path) / "adapter_config.json"
    return json.loads(p.read_text()) if p.is_file() else {}
