"""Large freed tensors go back to the system at once (glibc's fixed mmap threshold)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys, torch
from gvetool.engine.allocator import return_large_blocks_promptly
if sys.argv[1] == "fixed" and not return_large_blocks_promptly():
    print("unsupported")
    sys.exit()
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
keep = []
base = rss()
for _ in range(10):
    block = torch.ones(3 << 20)  # 12 MiB, freed while a small block after it stays live
    keep.append(torch.ones(1000))
    del block
print((rss() - base) // 1024)
"""


def _growth_mb(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_freed_activations_do_not_stay_resident():
    fixed = _growth_mb("fixed")
    if fixed == "unsupported":
        pytest.skip("not glibc: its malloc tuning does not apply")
    assert int(fixed) < 12
    assert int(_growth_mb("default")) >= 12  # what the setting prevents (glibc's default)


TRIM_PROBE = """
import sys
from gvetool.engine.allocator import return_freed_memory
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
blocks = [bytes(2000) + bytes([i % 256]) for i in range(40_000)]  # 80 MB of heap blocks
kept = blocks[::200]  # a few stay live, spread over the heap, so it cannot shrink at its top
del blocks
before = rss()
if not return_freed_memory():
    print("unsupported")
    sys.exit()
print((before - rss()) // 1024)
"""


def test_freed_heap_pages_are_given_back_after_loading():
    done = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    if done.stdout.strip() == "unsupported":
        pytest.skip("not glibc: malloc_trim does not apply")
    assert int(done.stdout) >= 40  # MB returned of the ~80 MB freed among live blocks
