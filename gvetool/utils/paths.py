"""Where gvetool keeps things by default, each overridable.

``GVETOOL_HOME`` (default ``$XDG_CACHE_HOME/gvetool`` or ``~/.cache/gvetool``) holds
downloaded and generated datasets (``data/<name>``) and feature stores (``features/``).
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    if os.environ.get("GVETOOL_HOME"):
        return Path(os.environ["GVETOOL_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "gvetool"


def default_data_root(dataset: str) -> Path:
    """Where ``--dataset NAME`` is looked for when no ``--data-root`` is given."""
    return home() / "data" / dataset


def default_feature_cache() -> Path:
    """Where feature stores are written; ``--cache-dir`` or ``GVETOOL_FEATURE_CACHE``."""
    if os.environ.get("GVETOOL_FEATURE_CACHE"):
        return Path(os.environ["GVETOOL_FEATURE_CACHE"]).expanduser()
    return home() / "features"
