"""Shared fixtures: fake installed distributions for plugin tests, a clean plugin cache,
Ctrl-C as a terminal delivers it."""

from __future__ import annotations

import shutil
import signal
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gvetool.builtins.datasets.synth import SynthOptions, generate
from gvetool.kernel.manager import DISABLE_ENV, reset_plugins


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_as_at_a_terminal() -> Iterator[None]:
    """The Ctrl-C tests interrupt gvetool as a terminal's Ctrl-C would. A suite started in
    the background of a non-interactive shell (``nohup``, ``&`` in a script) inherits
    SIGINT ignored, and an ignored signal stays ignored in every process started from it:
    no interrupt would ever arrive. Python's own handler is put back for the session."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test sees the plugins of its own sys.path and writes under its own home."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv("GVETOOL_DEBUG", raising=False)
    monkeypatch.delenv("GVETOOL_FEATURE_CACHE", raising=False)
    monkeypatch.setenv("GVETOOL_HOME", str(tmp_path / "gvetool-home"))
    monkeypatch.setenv("GVETOOL_QUIET", "1")
    reset_plugins()
    yield
    reset_plugins()


TINY = SynthOptions(
    classes=4, images_per_class=5, captions_per_image=3, image_size=32, feature_dim=16, seed=7
)


@pytest.fixture(scope="session")
def tiny_cub_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic CUB-layout dataset, generated once per session (read-only use)."""
    root = tmp_path_factory.mktemp("tiny") / "cub"
    generate(root, TINY)
    return root


@pytest.fixture
def tiny_cub(tiny_cub_master: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset that a test may damage."""
    root = tmp_path / "cub"
    shutil.copytree(tiny_cub_master, root)
    return root


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


# Tiny sizes for the Python API's trained runs, shared by the tests that read them.
LIBRARY_SIZES = {"epochs": 1, "hidden_size": 8, "embedding_size": 8, "batch_size": 8}


@pytest.fixture(scope="session")
def runs(tiny_cub_master: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """sc and gve on the tiny birds' shipped features, gve also on a random-init resnet18."""
    out = tmp_path_factory.mktemp("library-runs")
    common = {"dataset": "cub", "data_root": tiny_cub_master, "out": out, **LIBRARY_SIZES}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GVETOOL_HOME", str(out / "home"))
        import gvetool

        sc = gvetool.train("sc", **common)
        return {
            "sc": sc,
            "gve": gvetool.train("gve", **common),
            "cnn": gvetool.train("gve", **common, encoder="resnet18", encoder_weights="none"),
            "home": out / "home",
        }


@pytest.fixture
def home(runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVETOOL_HOME", str(runs["home"]))  # the feature stores built above


@pytest.fixture
def float32_products() -> Iterator[None]:
    """CUDA's float32 products in float32: PyTorch leaves cuDNN's TF32 on by default, and
    on an Ampere or Hopper card a cuDNN LSTM then differs from the CPU's at about 1e-3,
    beyond what a CPU-against-CUDA comparison allows. No effect on a CPU."""
    from gvetool.engine.precision import cuda_products

    with cuda_products("fp32"):
        yield


def needs_cuda(test: Callable[..., Any]) -> Callable[..., Any]:
    """A test that runs only on a CUDA device (``-m cuda`` selects them all), with
    float32 products."""
    import torch

    for mark in (
        pytest.mark.cuda,
        pytest.mark.usefixtures("float32_products"),
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ):
        test = mark(test)
    return test
