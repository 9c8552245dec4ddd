"""Have glibc return large freed blocks to the system at once, so peak memory follows use.

glibc's ``malloc`` serves blocks above its *mmap threshold* from their own mappings, which
``free`` returns to the system, and smaller ones from the heap, where a freed block below a
live one stays resident. The threshold is dynamic: each large free raises it (up to
32 MiB), so after the first few training steps a captioner's activation buffers — tens of
MiB each, sized by each batch's (sampled) sentence lengths — come from the heap and leave
holes of every size behind: at the original sizes a GVE step's peak RSS then carries
100-150 MB of freed memory. Fixing the threshold at 4 MiB turns the adjustment off.

Measured (``benchmarks/train_memory.py`` and A/B runs): GVE steps are no slower with it,
while 1 MiB cost them 7% in page faults. The sentence classifier (``nn.LSTM``, batches of
similar size, little fragmentation) runs 20% slower with it, so the trainer applies it
to captioners only.
"""

from __future__ import annotations

import ctypes
import gc
import sys

M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h
THRESHOLD_BYTES = 4 << 20


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


def return_freed_memory() -> bool:
    """Collect garbage and have glibc give freed heap pages back; ``False`` elsewhere.

    Why: loading a dataset parses JSON into many small objects, most of them dropped once
    the captions are encoded; their pages stay resident until ``malloc_trim`` returns
    them (about 15 MB for CUB), memory a run would otherwise carry to its peak.
    """
    gc.collect()
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = (ctypes.c_size_t,)
    return bool(trim(0))
