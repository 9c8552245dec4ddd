"""The documentation stays true to the code: references in docstrings name real objects,
the README's links lead somewhere, and the API reference lists every public name.

``mkdocs build --strict`` (tox's ``docs`` env) checks the site's own links and renders
the reference; these checks need nothing beyond the package.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import gvetool.plugin_api
import gvetool.user_api

ROOT = Path(__file__).parents[1]
ROLE = re.compile(r":(?:mod|class|func|meth|data|attr|exc|obj):`~?(gvetool[\w.]*)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def unresolved_roles(text: str) -> list[str]:
    """The ``:role:`gvetool...``` targets in ``text`` that name no module or attribute."""
    missing = []
    for target in ROLE.findall(text):
        parts = target.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            break
        else:
            missing.append(target)
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name) and name not in getattr(obj, "__annotations__", {}):
                missing.append(target)
                break
            obj = getattr(obj, name, None)
    return missing


@pytest.mark.parametrize(
    "path", sorted((ROOT / "gvetool").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_docstring_reference_names_a_real_object(path):
    assert unresolved_roles(path.read_text()) == []


def test_the_reference_check_sees_a_stale_name():
    text = ":class:`gvetool.utils.errors.GvetoolError` and :func:`gvetool.config.resolve`"
    assert unresolved_roles(text) == ["gvetool.config.resolve"]


def test_the_readmes_links_lead_to_files():
    links = [link for link in LINK.findall((ROOT / "README.md").read_text())]
    assert len(links) >= 10
    assert [link for link in links if not (ROOT / link).exists()] == []


def test_the_python_api_reference_lists_every_name():
    page = (ROOT / "docs" / "reference" / "python-api.md").read_text()
    names = [*gvetool.user_api.__all__, "serve", "study.make", "study.score"]
    assert [n for n in names if f'heading: "gvetool.{n}"' not in page] == []


def test_the_plugin_api_reference_lists_every_name():
    page = (ROOT / "docs" / "reference" / "plugin-api.md").read_text()
    listed = [n for n in gvetool.plugin_api.__all__ if f'heading: "{n}"' in page]
    linked = [n for n in gvetool.plugin_api.__all__ if f"### `{n}`" in page]  # listed elsewhere
    assert sorted(listed + linked) == sorted(gvetool.plugin_api.__all__)


def test_every_docs_page_is_in_the_sites_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert [page for page in pages if f": {page}" not in nav] == []
