"""Peak memory of this process, for per-step training metrics and the benchmarks."""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")
_before_resets = {"rss": 0.0, "cuda": 0.0}  # highest peaks read before a reset (lifetime so far)
_M_MMAP_THRESHOLD = -3  # glibc <malloc.h> mallopt parameter


def peak_memory_mib(*, reset: bool = False) -> dict[str, float]:
    """Peak memory in MiB since the process started or since the last `reset=True` call.

    `memory/peak_rss_mib`: the resident-set high-water mark (Linux `VmHWM`; a reset writes
    5 to /proc/self/clear_refs, so a pipeline that trains several models in one process gets
    each step's own peak, after `malloc_trim` returns freed heap pages; elsewhere the process
    lifetime `ru_maxrss`, not resettable).
    `memory/cuda_peak_mib`: the CUDA allocator's peak (`torch.cuda.reset_peak_memory_stats`).
    """
    import torch

    out = {"memory/peak_rss_mib": _peak_rss_mib()}
    if torch.cuda.is_available():
        out["memory/cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        if reset:
            _before_resets["cuda"] = max(_before_resets["cuda"], out["memory/cuda_peak_mib"])
            torch.cuda.reset_peak_memory_stats()
    if reset:
        _before_resets["rss"] = max(_before_resets["rss"], out["memory/peak_rss_mib"])
        trim_heap()
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:  # not Linux, or /proc read-only: the lifetime peak stays
            pass
    return out


def lifetime_peaks_mib() -> dict[str, float]:
    """The process's peaks in MiB since it started, across any resets: `peak_rss_mib` and,
    with CUDA, `cuda_peak_mib`."""
    import torch

    out = {"peak_rss_mib": max(_before_resets["rss"], _peak_rss_mib())}
    if torch.cuda.is_available():
        out["cuda_peak_mib"] = max(_before_resets["cuda"], torch.cuda.max_memory_allocated() / 2**20)
    return out


def set_mmap_threshold(nbytes: int | None) -> bool:
    """Serve heap allocations above `nbytes` with their own mmap (returned to the OS on free)
    and turn off glibc's dynamic threshold (`mallopt(M_MMAP_THRESHOLD)`; None: leave glibc be).

    Why: after the first large free glibc raises the threshold (up to 32 MiB), so tensors of a
    few MiB then come from the heap, whose freed pages stay resident. A PPO step allocates
    different sizes in each phase (sampling, role forwards, training micro-batches) and that
    retention was about half of its peak RSS on the default model (2513 -> 1339 MiB, bench
    `rllr-ppo`, at 128 KiB), at ~1.5x the step time: each large tensor is then a fresh mmap whose pages
    fault in zeroed. Equivalent to starting the process with MALLOC_MMAP_THRESHOLD_=nbytes.
    Returns False where it does not apply (not Linux/glibc)."""
    if nbytes is None or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, nbytes))
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False


def trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc `malloc_trim`, which also releases free
    pages in the middle of the heap), so that RSS counts live memory, not what earlier work
    left mapped: a pipeline's earlier stages, or a forward's freed activations. No-op off glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        pass


def _peak_rss_mib() -> float:
    try:
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", _STATUS.read_text())
        if match:
            return int(match.group(1)) / 1024
    except OSError:
        pass
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20
