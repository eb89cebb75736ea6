"""The worker process's allocator setting: large image buffers get their own mappings."""

from __future__ import annotations

import sys

import pytest

from shared.runtime import return_large_buffers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_mmap_threshold_is_set_on_glibc_and_left_alone_when_zero() -> None:
    assert return_large_buffers(1024 * 1024) is True
    assert return_large_buffers(0) is False


def test_a_large_buffer_goes_back_to_the_system_when_freed() -> None:
    """With the threshold set, freeing a 64 MB buffer lowers the process's RSS again."""
    if not return_large_buffers(1024 * 1024):
        pytest.skip("not glibc")

    def rss_kb() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    before = rss_kb()
    buffer = bytearray(64 * 1024 * 1024)
    buffer[::4096] = b"x" * len(buffer[::4096])  # touch every page
    assert rss_kb() - before > 60_000
    del buffer
    assert rss_kb() - before < 8_000
