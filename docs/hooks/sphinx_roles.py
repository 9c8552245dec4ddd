"""A Griffe extension for the API reference: docstrings written with Sphinx roles
(``:class:`gvetool.x.Y```, ``:func:`~gvetool.x.f```) render as code, not as raw markup.

gvetool's docstrings use the roles because they are read in editors and ``help()`` too;
``tests/test_docs.py`` checks that every role names a real object.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:mod|class|func|meth|data|attr|exc|obj):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(Extension):
    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
