"""Optimizer and batching settings shared by the SFT and reward-model trainers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rllr.config import check
from rllr.errors import ConfigError


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_ratio: float = 0.1
    """Fraction of steps with linear warmup before the cosine decay."""
    batch_size: int = 8
    """Global batch (examples per optimizer step, all processes together)."""
    micro_batch_size: int = 8
    """Examples per forward pass per process; accumulation = batch / (micro * processes)."""
    epochs: int = 1
    """Passes over the data (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Optimizer steps; more than one epoch of steps cycles through fresh permutations."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 = off)."""

    def __post_init__(self) -> None:
        check(self.lr > 0, f"optim.lr must be positive, got {self.lr}")
        check(0.0 <= self.warmup_ratio < 1.0, "optim.warmup_ratio must be in [0, 1)")
        check(self.batch_size > 0 and self.micro_batch_size > 0, "optim batch sizes must be positive")
        check(self.batch_size % self.micro_batch_size == 0,
              "optim.batch_size must be a multiple of optim.micro_batch_size")
        check(self.epochs > 0, "optim.epochs must be positive")
        check(self.max_steps is None or self.max_steps > 0, "optim.max_steps must be positive")


def grad_accumulation(optim: OptimConfig, num_processes: int) -> int:
    """Micro-batches per process per optimizer step."""
    per_step = optim.micro_batch_size * num_processes
    if optim.batch_size % per_step:
        raise ConfigError(f"optim.batch_size={optim.batch_size} is not a multiple of "
                          f"micro_batch_size x processes = {per_step}")
    return optim.batch_size // per_step


def resolve_precision(mixed_precision: str) -> str:
    if mixed_precision != "auto":
        return mixed_precision
    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
