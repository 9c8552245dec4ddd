"""The plugin facade: the one module plugin packages import, documented and kept to."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import gvetool.plugin_api as api

ROOT = Path(__file__).parents[1]
PLUGINS = ROOT / "plugins"


def _gvetool_imports(path: Path) -> list[str]:
    """Every gvetool module a file imports (at any depth, lazily too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return [name for name in found if name == "gvetool" or name.startswith("gvetool.")]


def _plugin_files(part: str) -> list[Path]:
    return sorted(p for p in PLUGINS.glob(f"*/{part}/**/*.py") if "build" not in p.parts)


def test_plugin_packages_import_only_the_facade():
    sources = [p for p in _plugin_files("gvetool_*")]
    assert len(sources) >= 10  # the five packages' modules were found
    wrong = {
        str(p.relative_to(ROOT)): m
        for p in sources
        for m in _gvetool_imports(p)
        if m != "gvetool.plugin_api"
    }
    assert wrong == {}


def test_plugin_tests_use_only_the_facade_or_the_public_api():
    tests = _plugin_files("tests")
    assert len(tests) >= 3
    wrong = {
        str(p.relative_to(ROOT)): m
        for p in tests
        for m in _gvetool_imports(p)
        if m not in ("gvetool", "gvetool.plugin_api")
    }
    assert wrong == {}


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from gvetool.data.vocab import Vocabulary\n")
    assert _gvetool_imports(module) == ["gvetool.data.vocab"]


@pytest.mark.parametrize("name", api.__all__)
def test_every_facade_name_resolves_and_is_documented(name):
    value = getattr(api, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert f"| `{name}` |" in (ROOT / "docs" / "plugins.md").read_text()


def test_an_unknown_facade_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        api.Nothing  # noqa: B018


def test_importing_the_facade_does_not_import_torch():
    code = (
        "import sys, gvetool.plugin_api; from gvetool.plugin_api import hookimpl; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_old_plugin_names_still_work_with_a_deprecation_warning():
    import gvetool
    import gvetool.api as old

    with pytest.warns(DeprecationWarning, match="gvetool.plugin_api"):
        assert old.ModelSpec is api.ModelSpec
    with pytest.warns(DeprecationWarning, match="gvetool.plugin_api"):
        assert gvetool.hookimpl is api.hookimpl
    assert sorted(old.__all__) == sorted(api.__all__)


def test_the_user_facade_is_exactly_the_python_api():
    import gvetool
    import gvetool.explorer
    import gvetool.study
    import gvetool.user_api

    assert gvetool.__all__ == ["__version__", *gvetool.user_api.__all__, "serve", "study"]
    assert dir(gvetool) == sorted(gvetool.__all__)
    for name in gvetool.user_api.__all__:
        assert getattr(gvetool, name) is getattr(gvetool.user_api, name)
    # The explorer and the study kit are built on the API, so they live above it.
    assert gvetool.serve is gvetool.explorer.serve
    assert gvetool.study is sys.modules["gvetool.study"]
    assert callable(gvetool.study.make) and callable(gvetool.study.score)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        gvetool.Nothing  # noqa: B018


def test_probing_gvetool_for_dunder_names_imports_nothing():
    code = (
        "import sys, gvetool; print(hasattr(gvetool, '__wrapped__'), "
        "'gvetool.user_api' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
