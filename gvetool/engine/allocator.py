"""Have glibc return large freed blocks to the system at once, so peak memory follows use.

glibc's ``malloc`` serves blocks above its *mmap threshold* from their own mappings, which
``free`` returns to the system, and smaller ones from the heap, where a freed block below a
live one stays resident. The threshold is dynamic: each large free raises it (up to
32 MiB), so after the first few training steps most activation tensors — a few MiB to
tens of MiB each — come from the heap and leave holes of every size behind. At CUB size a
GVE run's peak RSS then carries 100-200 MB of freed memory. Setting the threshold
explicitly (1 MiB) turns the dynamic adjustment off; the price, a fresh zeroed mapping
per large tensor, did not show in step times (``benchmarks/train_startup.py``).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h
THRESHOLD_BYTES = 1 << 20


def return_large_blocks_promptly() -> bool:
    """Fix glibc's mmap threshold; ``False`` where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries: nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
