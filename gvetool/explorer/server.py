"""Starting the explorer: describe the split once, load each run once, serve until stopped.

:func:`serve` returns a running :class:`ExplorerServer` (a background thread; ``stop()``
ends it, so does leaving a ``with`` block); :func:`serve_forever` is ``gvetool serve``:
the server in the calling thread, stopped cleanly by Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import uvicorn
from PIL import Image

from gvetool.evaluation.side_by_side import side_by_side
from gvetool.explorer.app import ServedRun, create_app
from gvetool.explorer.catalog import Catalog
from gvetool.explorer.uploads import MAX_UPLOAD_BYTES
from gvetool.user_api.explainer import load
from gvetool.utils.errors import GvetoolError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Settings:
    """What ``gvetool serve`` serves and how."""

    runs: tuple[Path, ...]
    split: str = "test"
    host: str = "127.0.0.1"
    port: int = 8000
    data_root: Path | None = None
    sc_ckpt: Path | None = None
    device: str = "cpu"
    max_upload_bytes: int = MAX_UPLOAD_BYTES


class ExplorerServer:
    """A running explorer: its ``url``; ``stop()`` ends it (also on leaving ``with``)."""

    def __init__(self, server: object, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"ExplorerServer(url={self.url!r}, {state})"

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the requests in flight and stop serving."""
        self._server.should_exit = True  # type: ignore[attr-defined]
        self._thread.join(timeout)

    def __enter__(self) -> ExplorerServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


def prepare(settings: Settings) -> tuple[object, socket.socket, str]:
    """Everything before serving: the socket bound (a taken port fails before minutes of
    describing), the split described by every run, each run loaded; returns the uvicorn
    server, the socket and the address to open."""
    listener = _bind(settings.host, settings.port)
    try:
        shown = side_by_side(settings.runs, settings.split, settings.data_root, settings.device)
        runs = [
            ServedRun(
                name,
                load(
                    path,
                    device=settings.device,
                    data_root=settings.data_root,
                    sc_ckpt=settings.sc_ckpt,
                ),
            )
            for name, path in zip(shown.runs, settings.runs, strict=True)
        ]
        app = create_app(
            runs,
            Catalog(shown),
            max_upload_bytes=settings.max_upload_bytes,
            loopback_only=is_loopback(settings.host),
        )
    except BaseException:
        listener.close()
        raise
    # A photo above Pillow's own limit is refused by the explorer with its size; Pillow's
    # warning on opening it would only repeat that, in the server's log.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    host, port = listener.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    return uvicorn.Server(config), listener, f"http://{shown_host}:{port}/"


def serve(settings: Settings) -> ExplorerServer:
    """Start the explorer in a background thread; returns once it answers."""
    server, listener, url = prepare(settings)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="gvetool-explorer", daemon=True
    )
    thread.start()
    for _ in range(int(START_TIMEOUT_S * 20)):
        if server.started or not thread.is_alive():  # type: ignore[attr-defined]
            break
        threading.Event().wait(0.05)
    if not server.started:  # type: ignore[attr-defined]
        server.should_exit = True  # type: ignore[attr-defined]
        raise GvetoolError(f"the explorer did not start at {url}")
    return ExplorerServer(server, thread, url)


def serve_forever(settings: Settings, started: Callable[[str], None] = print) -> None:
    """Serve in this thread until Ctrl-C (or SIGTERM), which finishes cleanly."""
    server, listener, url = prepare(settings)
    started(url)
    # uvicorn stops cleanly on Ctrl-C, then raises the signal again for the caller.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])  # type: ignore[attr-defined]


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise GvetoolError(f"--port must be 0 to 65535 (0: any free port), got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, reuse_port=False)
    except socket.gaierror:
        raise GvetoolError(f"cannot serve on host {host!r}: no such address here") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise GvetoolError(
                f"port {port} is in use; pick another with --port (0: any free port)"
            ) from None
        raise GvetoolError(f"cannot serve on {host}:{port}: {exc.strerror}") from None


def run_paths(runs: Sequence[str | Path]) -> tuple[Path, ...]:
    """The runs as paths, each checked to exist (one line for a mistyped one)."""
    paths = tuple(Path(r) for r in runs)
    for path in paths:
        if not path.exists():
            raise GvetoolError(f"no run {path}: give a run directory or a checkpoint (.pt)")
    return paths
