"""One writer per folder: an advisory lock held while a process writes there.

Two processes training in one run folder would both write ``last.pt``, ``best.pt`` and
``metrics.jsonl``; two downloads into one data root would rename each other's files away.
The lock is ``flock`` on the folder itself (no lock file is written, so nothing is left
behind); the kernel releases it when its process dies, however it dies, so a killed
process never leaves a folder locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gvetool.utils.errors import GvetoolError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock
    fcntl = None  # type: ignore[assignment]


@contextmanager
def exclusive(folder: Path, busy: str) -> Iterator[None]:
    """Hold ``folder``'s lock inside the block; if another process holds it, refuse with
    ``busy`` (what is going on and what to do)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise GvetoolError(f"cannot lock {folder}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GvetoolError(busy) from None
        yield
    finally:
        os.close(fd)
