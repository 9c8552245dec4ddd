"""The ``gvetool`` console script, and ``python -m gvetool`` (so ``torchrun -m gvetool`` works).

Importing the CLI takes a moment (Typer, rich, the plugins); an interrupt during it would
otherwise print a traceback, so Ctrl-C while the CLI is still importing is one line too.
Only the standard library is imported here before that.
"""

from __future__ import annotations

import os
import sys

from gvetool.utils.errors import INTERRUPTED_EXIT  # standard library only, like this module


def main() -> int:
    try:
        # numpy first, from Python: torch imports it from C and, when an interrupt lands
        # there, reports "Failed to initialize NumPy" and carries on, leaving a broken
        # numpy behind (a Ctrl-C at start-up then ends in an internal error, not here).
        import numpy  # noqa: F401

        from gvetool.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted while starting; nothing was done\n")
        code = INTERRUPTED_EXIT
    else:
        code = run()
    if code == INTERRUPTED_EXIT:
        # CPython kills itself with SIGINT at exit when the interrupt landed in C-level
        # code (torch's import runs Python from C), which would turn the one-line,
        # exit-130 report into a death by signal: leave directly instead.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
