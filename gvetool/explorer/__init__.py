"""``gvetool serve``: a local web explorer over trained runs.

Browse a split's images with every run's sentence side by side (filter by class, search,
the repetition flag and the independent judge's verdict per sentence), upload a photo to
an image-encoder run and read its explanation, class ranking and counterfactual. The page
uses the JSON API documented in the docs (Explorer); everything it needs is served from
the package, nothing from a CDN.

    server = gvetool.serve(["runs/lrcn-synth-...", "runs/gve-synth-..."], port=0)
    print(server.url)
    server.stop()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gvetool.explorer.server import ExplorerServer, Settings, run_paths
from gvetool.explorer.server import serve as _serve
from gvetool.utils.console import quiet_unless_asked

__all__ = ["ExplorerServer", "serve"]


@quiet_unless_asked
def serve(
    runs: str | Path | Sequence[str | Path],
    *,
    split: str = "test",
    host: str = "127.0.0.1",
    port: int = 8000,
    data_root: str | Path | None = None,
    sc_ckpt: str | Path | None = None,
    device: str = "cpu",
    max_upload_mb: int = 25,
) -> ExplorerServer:
    """Serve the explorer over ``runs`` (run directories or checkpoints of one dataset) in
    a background thread; returns once it answers. ``port=0`` takes any free port (see
    ``.url``); ``stop()`` ends it, as does leaving a ``with`` block. Each run describes
    ``split`` once at start (a minute for CUB's test split on a CPU)."""
    paths = run_paths([runs] if isinstance(runs, (str, Path)) else list(runs))
    return _serve(
        Settings(
            paths,
            split,
            host,
            port,
            Path(data_root) if data_root else None,
            Path(sc_ckpt) if sc_ckpt else None,
            device,
            max_upload_mb * 1024 * 1024,
        )
    )
