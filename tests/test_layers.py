"""The import layers of pyproject.toml hold, and a planted upward import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")


def _lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT], cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not Path(LINT).exists(), reason="import-linter is not installed")
def test_an_upward_import_even_inside_a_function_breaks_the_layers(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    shutil.copytree(ROOT / "gvetool", copy / "gvetool",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    assert _lint(copy).returncode == 0
    errors = copy / "gvetool" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _late():\n    import gvetool.cli\n")
    broken = _lint(copy)
    assert broken.returncode != 0
    assert "gvetool.errors -> gvetool.cli" in broken.stdout
