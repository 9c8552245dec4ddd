"""One writer per run: an advisory lock held by the process that trains in a run folder.

Two processes training in one run folder would both write ``last.pt``, ``best.pt`` and
``metrics.jsonl``, each overwriting the other's. ``flock`` locks are released by the
kernel when their process dies, however it dies, so a killed run never leaves its folder
locked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gvetool.errors import GvetoolError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock, as before
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock inside the block; refuse if another process holds it."""
    if fcntl is None:
        yield
        return
    try:
        handle = open(run_dir / LOCK, "a")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise GvetoolError(f"cannot lock {run_dir} for training: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GvetoolError(
                f"{run_dir} is being trained by another process; wait for it to end (or stop "
                "it with Ctrl-C), then resume"
            ) from None
        yield
    finally:
        handle.close()
