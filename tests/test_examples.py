"""The Python examples of the README and the docs, and the example script, run as written."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="evaluation needs Java")


def _python_block(page: str, section: str) -> str:
    text = (ROOT / page).read_text()
    body = text.split(f"{section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)[0]


@needs_java
def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_block("README.md", "## The Python API"), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Explanation(image=" in out
    assert (tmp_path / "runs").is_dir()


@needs_java
def test_the_python_api_guides_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    block = _python_block("docs/python-api.md", "# Python API")
    exec(compile(block, "docs/python-api.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Explanation(image=" in out and "Counterfactual(image=" in out
    assert out.count("explained_class=") == 2  # as its own class and as the other one
    assert (tmp_path / "api-demo" / "runs").is_dir()


@needs_java
def test_the_example_script_trains_evaluates_and_explains_a_photo(tmp_path):
    script = ROOT / "examples" / "train_evaluate_explain.py"
    assert script.read_text().count("# %%") >= 5  # notebook cells
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "example"), "--quick"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
        env={**__import__("os").environ, "GVETOOL_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("Explanation(image=") == 3  # two ids, one photo
    assert f"Explanation(image='{tmp_path / 'example' / 'photo.png'}'" in done.stdout
    assert "Counterfactual(image=" in done.stdout and "CIDEr:" in done.stdout
