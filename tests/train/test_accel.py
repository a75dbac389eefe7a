"""Several training runs in one process (as `rllr reproduce` does) each get their own Accelerator."""

from __future__ import annotations

import pytest
from accelerate import Accelerator

from rllr.train.accel import make_accelerator, num_processes


def test_plain_accelerate_refuses_a_second_precision():
    """The failure `make_accelerator` exists for (seen on a GPU: SFT in bf16, then PPO in fp32)."""
    make_accelerator("bf16")
    with pytest.raises(ValueError, match="already been initialized"):
        Accelerator(cpu=True, mixed_precision="no")


def test_runs_with_different_precision_and_accumulation_in_one_process():
    first = make_accelerator("bf16", gradient_accumulation_steps=4)
    assert (first.mixed_precision, first.gradient_accumulation_steps) == ("bf16", 4)
    second = make_accelerator("no")
    assert (second.mixed_precision, second.gradient_accumulation_steps) == ("no", 1)
    assert num_processes() == second.num_processes == 1
