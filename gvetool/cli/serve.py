"""``gvetool serve``: the local explorer over one or more runs (:mod:`gvetool.explorer`)."""

from __future__ import annotations

from pathlib import Path

import typer

from gvetool.utils import console
from gvetool.utils.errors import GvetoolError

EXTRA_HINT = "pip install 'gvetool[serve]'"


def serve_command(
    runs: list[Path] = typer.Argument(
        ..., help="Run directories or checkpoints of one dataset, shown side by side."
    ),
    split: str = typer.Option("test", help="The split to browse."),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (another than this machine's own: a warning)."
    ),
    port: int = typer.Option(8000, help="Port to listen on (0: any free one)."),
    data_root: Path | None = typer.Option(None, help="Dataset folder (default: as trained)."),
    sc_ckpt: Path | None = typer.Option(
        None, help="Sentence classifier that ranks classes (default: the run's own)."
    ),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    max_upload_mb: int = typer.Option(25, min=1, help="Largest photo upload, in MB."),
) -> None:
    """Browse a split's sentences side by side and explain uploaded photos, in a browser.

    Each run describes the split once at start; then open the printed address. Ctrl-C
    stops the server.
    """
    try:
        from gvetool.explorer.server import Settings, is_loopback, run_paths, serve_forever
    except ModuleNotFoundError as exc:
        raise GvetoolError(
            f"gvetool serve needs the web server packages ({exc.name} is missing): {EXTRA_HINT}"
        ) from None
    settings = Settings(
        run_paths(runs), split, host, port, data_root, sc_ckpt, device, max_upload_mb << 20
    )
    if not is_loopback(host):
        console.warn(
            f"serving on {host}: anyone who can reach this machine can browse the runs and "
            "upload photos (there is no login); the default, 127.0.0.1, keeps it to you"
        )
    serve_forever(settings, _started)
    console.err().print("explorer stopped", highlight=False)


def _started(url: str) -> None:
    console.out().print(f"gvetool explorer at {url}  (Ctrl-C stops it)", highlight=False)
