"""Ctrl-C during training: finish the step, save ``last.pt``, then stop.

A ``KeyboardInterrupt`` raised in the middle of a step can leave the weights half updated,
and every step since the last checkpoint would be lost with it. The first SIGINT therefore
only asks the loop to stop at the next step boundary, where the state is consistent and is
saved; a second one interrupts at once (the previous ``last.pt``, written atomically, stays
intact). Single-process runs only: under torchrun every rank would have to agree on the
step to stop at, so there Ctrl-C interrupts as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from gvetool.utils import console
from gvetool.utils.errors import INTERRUPTED_EXIT, GvetoolError


class Interrupted(GvetoolError):
    """Training stopped on the user's request (exit code 130, as for SIGINT)."""

    exit_code = INTERRUPTED_EXIT


class GracefulStop:
    """While active, the first Ctrl-C sets ``requested`` instead of raising."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> GracefulStop:
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        console.err().print(
            "stopping after this step to save a checkpoint (Ctrl-C again to stop at once)"
        )
