"""Ctrl-C or SIGTERM during training: finish the step, save ``last.pt``, then stop.

A ``KeyboardInterrupt`` raised in the middle of a step can leave the weights half updated,
and every step since the last checkpoint would be lost with it. The first SIGINT therefore
only asks the loop to stop at the next step boundary, where the state is consistent and is
saved; a second one interrupts at once (the previous ``last.pt``, written atomically, stays
intact). SIGTERM, how schedulers stop a job (SLURM preemption, Kubernetes, ``timeout``),
is treated the same way and ends with exit status 143 (128 + 15) instead of 130.
Single-process runs only: under torchrun every rank would have to agree on the step to
stop at, so there the signals act as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from gvetool.utils import console
from gvetool.utils.errors import INTERRUPTED_EXIT, GvetoolError


class Interrupted(GvetoolError):
    """Training stopped on the user's request (exit code 130, as for SIGINT; 143 for a
    SIGTERM)."""

    exit_code = INTERRUPTED_EXIT

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """While active, the first Ctrl-C or SIGTERM sets ``requested`` (and ``signum``)
    instead of raising."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self.signum: int = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if self.enabled:
            for signum in SIGNALS:
                # A SIGTERM ignored by whoever started us stays ignored: the SLURM launcher
                # has its jobs wait for the interrupt submitit sends before preemption.
                if signum == signal.SIGTERM and signal.getsignal(signum) == signal.SIG_IGN:
                    continue
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        console.err().print(
            f"{name}: stopping after this step to save a checkpoint (Ctrl-C again to stop at once)"
        )
