"""Peak memory of this process, for per-step training metrics and the benchmarks."""

from __future__ import annotations

import resource
import sys


def peak_memory_mib(*, reset_cuda: bool = False) -> dict[str, float]:
    """`memory/peak_rss_mib`: the process's resident-set high-water mark so far (model load
    and the Python/torch baseline included); `memory/cuda_peak_mib`: the CUDA allocator's
    peak since the last reset (reset afterwards when `reset_cuda`, giving a per-step peak)."""
    import torch

    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
    out = {"memory/peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20}
    if torch.cuda.is_available():
        out["memory/cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        if reset_cuda:
            torch.cuda.reset_peak_memory_stats()
    return out
