"""One `accelerate.Accelerator` per training run, also when several runs share a process.

Accelerate keeps process-wide singletons (`AcceleratorState`, `GradientState`) and refuses a
second `Accelerator` whose mixed-precision setting differs from the first one's. `rllr
reproduce` runs SFT, the reward models and PPO one after another in one process, and on a GPU
SFT/RM ask for bf16 (`mixed_precision: auto`) while PPO asks for none: without a reset the
second stage dies with "AcceleratorState has already been initialized". The reset below drops
those two singletons and keeps `PartialState` (the distributed process group), which is what
accelerate's own test-suite does between tests; the method is private, hence this one home.
"""

from __future__ import annotations

from typing import Any

import torch


def num_processes() -> int:
    """Processes of this launch (1 without `accelerate launch` / torchrun)."""
    from accelerate import PartialState

    # cpu=True without CUDA: torchrun / `accelerate launch --multi_gpu` on a CPU host then uses gloo
    return PartialState(cpu=not torch.cuda.is_available()).num_processes


def make_accelerator(mixed_precision: str = "no", gradient_accumulation_steps: int = 1) -> Any:
    """A fresh `Accelerator` (CUDA when present, else CPU/gloo) whatever ran before in this process."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mixed_precision,
                       gradient_accumulation_steps=gradient_accumulation_steps)
