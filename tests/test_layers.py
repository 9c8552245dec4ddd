"""The architecture holds: the layers of pyproject.toml, with no import up a layer and no
import circle, counting imports inside functions and under ``TYPE_CHECKING`` too.

Two independent checks: import-linter (tox's lint env, and here against a planted
upward import) and an AST walk of every module, which needs nothing installed.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")


def _layers(pyproject: Path = ROOT / "pyproject.toml") -> list[list[str]]:
    """The layers contract, top first; each layer's packages (``|`` or ``:`` apart)."""
    contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return [[name.strip() for name in layer.replace(":", "|").split("|")] for layer in layers]


def _modules(package: Path) -> dict[str, Path]:
    """Every module below ``package``, by dotted name (a package by its own name)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """``(module imported, line)`` for every first-party import of a module, at any depth."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            # "from package import module" imports the module; else the name is an attribute
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            if target.split(".")[0] == ROOT.joinpath("gvetool").name:
                yield target, node.lineno


def _graph(package: Path) -> dict[str, dict[str, int]]:
    """module -> {module it imports: the first line that does}."""
    known = _modules(package)
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges = graph.setdefault(name, {})
        for target, line in _imports(name, path, known):
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target != name:
                edges.setdefault(target, line)
    return graph


def _layer_of(module: str, layers: list[list[str]]) -> tuple[int, str] | None:
    """(layer index, top first; the package) holding ``module``; ``None`` for the root
    package, the facade of the Python API, which stands above every layer."""
    for index, layer in enumerate(layers):
        for package in layer:
            if module == package or module.startswith(package + "."):
                return index, package
    return None


def upward_imports(package: Path, layers: list[list[str]]) -> list[str]:
    """Every import that goes up a layer, or across to a sibling of the same layer."""
    wrong = []
    for source, targets in _graph(package).items():
        here = _layer_of(source, layers)
        if here is None:
            continue
        for target, line in targets.items():
            there = _layer_of(target, layers)
            if there is None or there[0] < here[0] or (there[0] == here[0] and there != here):
                wrong.append(f"{source}:{line} imports {target}")
    return sorted(wrong)


def missing_modules(package: Path) -> list[str]:
    """Imports of a first-party module that does not exist (a rename half done)."""
    known = _modules(package)
    return [
        f"{name}:{line} imports {target}"
        for name, path in known.items()
        for target, line in _imports(name, path, known)
        if target not in known
    ]


def import_circles(package: Path) -> list[list[str]]:
    """The strongly connected groups of two or more modules (Tarjan's algorithm)."""
    graph = _graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_every_package_is_in_a_layer():
    layers = _layers()
    packages = {p.parent.name for p in (ROOT / "gvetool").glob("*/__init__.py")}
    modules = {p.stem for p in (ROOT / "gvetool").glob("*.py")} - {"__init__"}
    placed = {name.split(".")[1] for layer in layers for name in layer}
    assert packages | modules == placed


def test_no_layer_lumps_more_than_three_siblings():
    assert max(len(layer) for layer in _layers()) <= 3


def test_every_first_party_import_names_a_module_that_exists():
    assert missing_modules(ROOT / "gvetool") == []


def test_no_import_goes_up_a_layer():
    assert upward_imports(ROOT / "gvetool", _layers()) == []


def test_no_modules_import_each_other_in_a_circle():
    assert import_circles(ROOT / "gvetool") == []


def test_the_root_holds_at_most_eight_modules():
    assert len(list((ROOT / "gvetool").glob("*.py"))) <= 8


def test_the_checks_see_an_upward_import_a_circle_and_a_type_only_import(tmp_path):
    package = tmp_path / "gvetool"
    for folder in ("low", "high"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gvetool.high import b\n"
    )
    (package / "low" / "c.py").write_text("def f():\n    from . import d\n")
    (package / "low" / "d.py").write_text("from gvetool.low import c\n")
    (package / "high" / "b.py").write_text("from gvetool.low.a import x\nimport gvetool.low.e\n")
    layers = [["gvetool.high"], ["gvetool.low"]]
    assert upward_imports(package, layers) == ["gvetool.low.a:3 imports gvetool.high.b"]
    assert missing_modules(package) == ["gvetool.high.b:2 imports gvetool.low.e"]
    assert sorted(import_circles(package)) == [
        ["gvetool.high.b", "gvetool.low.a"],
        ["gvetool.low.c", "gvetool.low.d"],
    ]


def _lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT], cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not Path(LINT).exists(), reason="import-linter is not installed")
def test_import_linter_sees_an_upward_import_inside_a_function(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    shutil.copytree(
        ROOT / "gvetool", copy / "gvetool", ignore=shutil.ignore_patterns("__pycache__")
    )
    assert _lint(copy).returncode == 0
    errors = copy / "gvetool" / "utils" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _late():\n    import gvetool.cli\n")
    broken = _lint(copy)
    assert broken.returncode != 0
    assert "gvetool.utils.errors -> gvetool.cli" in broken.stdout
