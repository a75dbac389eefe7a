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
