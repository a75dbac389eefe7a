"""Per-step peak memory: a reset starts a new peak; the lifetime peak survives resets."""

import sys

import pytest

from rllr.train.memory import lifetime_peaks_mib, peak_memory_mib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM reset is Linux-only")
def test_reset_starts_a_new_peak_and_lifetime_keeps_the_old_one():
    peak_memory_mib(reset=True)  # imports torch first: its pages are resident from here on
    block = bytearray(400 * 2**20)  # touched: 400 MiB resident
    block[:: 4096] = b"x" * len(block[:: 4096])
    del block
    before = peak_memory_mib(reset=True)["memory/peak_rss_mib"]
    after = peak_memory_mib()["memory/peak_rss_mib"]
    assert after < before - 300
    assert lifetime_peaks_mib()["peak_rss_mib"] >= before


_RETENTION = """
import re, sys, torch
from rllr.train.memory import set_mmap_threshold
if sys.argv[1] == "set":
    assert set_mmap_threshold(128 * 1024)
del_me = torch.ones(4 * 2**20)   # 16 MiB: mmapped, and freeing it raises glibc's dynamic threshold
del del_me
xs = [torch.ones(2**20) for _ in range(150)]  # 150 x 4 MiB, now below the raised threshold
pin = torch.ones(2**18)          # 1 MiB from the heap top: the freed space below is not trimmed
del xs
print(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_mmap_threshold_returns_freed_tensors_to_the_os():
    """The PPO trainer's `mmap_threshold_kib`: freed mid-size tensors stop counting in RSS."""
    import subprocess

    rss = {mode: int(subprocess.run([sys.executable, "-c", _RETENTION, mode], check=True, capture_output=True,
                                    text=True).stdout.split()[-1]) / 1024 for mode in ("dynamic", "set")}
    assert rss["set"] < rss["dynamic"] - 400, rss  # ~600 MiB stay resident under the dynamic threshold
