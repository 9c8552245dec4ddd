"""A real third-party package, pip-installed as a user would, is found with no core change."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOY_SOURCE = Path(__file__).parent / "toy_plugin"


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
    )


def _gvetool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gvetool", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def toy_installed(tmp_path_factory: pytest.TempPathFactory):
    # Built from a copy so the source tree stays free of build/ and egg-info droppings.
    source = tmp_path_factory.mktemp("toy") / "toy_plugin"
    shutil.copytree(TOY_SOURCE, source)
    _pip("install", "--no-deps", "--no-build-isolation", str(source))
    yield
    _pip("uninstall", "-y", "gvetool-toy")


def test_pip_installed_plugin_is_listed_with_what_it_provides(toy_installed):
    done = _gvetool("plugins", "--json")
    assert done.returncode == 0, done.stderr
    toy = next(info for info in json.loads(done.stdout) if info["name"] == "toy")
    assert toy["distribution"] == "gvetool-toy"
    assert toy["version"] == "0.3.0"
    assert toy["status"] == "loaded"
    assert toy["registered"] == {"dataset": ["toy-birds"]}
    assert toy["commands"] == ["toy-hello"]


def test_pip_installed_plugin_command_runs(toy_installed):
    done = _gvetool("toy-hello", "--name", "wren")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello wren from gvetool-toy"


def test_pip_installed_plugin_can_be_disabled(toy_installed, monkeypatch):
    monkeypatch.setenv("GVETOOL_DISABLE_PLUGINS", "toy")
    done = _gvetool("plugins", "--json")
    toy = next(info for info in json.loads(done.stdout) if info["name"] == "toy")
    assert toy["status"] == "disabled"
    assert _gvetool("toy-hello").returncode == 2
