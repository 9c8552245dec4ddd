"""Shared fixtures: fake installed distributions for plugin tests, a clean plugin cache."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gvetool.plugins import DISABLE_ENV, reset_plugins


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the plugins of its own sys.path, not a previous test's."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv("GVETOOL_DEBUG", raising=False)
    reset_plugins()
    yield
    reset_plugins()


FakeDist = Callable[..., Path]


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDist:
    """Install a plugin distribution the way pip lays it out (module + .dist-info).

    Returns the site directory, already on ``sys.path``, so ``importlib.metadata`` finds
    its entry point exactly as it finds a pip-installed package's.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("COLUMNS", "200")

    def make(dist: str, module: str, source: str, entry: str | None = None) -> Path:
        # A module of the same name from an earlier test must not be reused.
        monkeypatch.delitem(sys.modules, module, raising=False)
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[gvetool]\n{entry or module} = {module}\n")
        return site

    return make
