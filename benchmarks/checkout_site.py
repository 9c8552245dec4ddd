"""Make the checkout importable as an installed gvetool, with no build and no network.

    python benchmarks/checkout_site.py SITE_DIR

gvetool's built-in plugins are found through its entry points, which only an installed
distribution has. An editable install needs setuptools (and often the network for build
isolation), which a bare GPU machine may lack, and a failed install used to cost every
later step. This writes ``SITE_DIR/gvetool-<version>.dist-info`` (``METADATA`` and the
``entry_points.txt`` of ``pyproject.toml``); with the checkout and ``SITE_DIR`` on
``PYTHONPATH``, ``importlib.metadata`` finds gvetool exactly as after ``pip install``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def version() -> str:
    """``gvetool.__version__``, read from the source without importing it."""
    tree = ast.parse((ROOT / "gvetool" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise SystemExit("gvetool/__init__.py has no __version__")


def write_site(site: Path) -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    info = site / f"gvetool-{version()}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: gvetool\nVersion: {version()}\n")
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    lines.append("[console_scripts]")
    lines += [f"{name} = {target}" for name, target in project.get("scripts", {}).items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/checkout_site.py SITE_DIR")
    print(write_site(Path(sys.argv[1])))
