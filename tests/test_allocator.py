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
