"""``--model-option KEY=VALUE``: a model's own options on the command line (train, cv, transfer)."""

from __future__ import annotations

from typing import Any

import typer

HELP = (
    "A model's own option, KEY=VALUE; repeatable. `gvetool plugins` lists each model's "
    "options (also a \\[model_options] table in --config)."
)


# The declaration, shared by the commands' signatures (Typer reads it, never changes it).
FLAG: Any = typer.Option(None, "--model-option", help=HELP, metavar="KEY=VALUE")


def given(pairs: list[str] | None) -> dict[str, Any]:
    """``{"model_options": parsed}`` to merge into a command's given options; nothing where
    none were given (nothing to override)."""
    if not pairs:
        return {}
    from gvetool.config.schema import MODEL_OPTIONS
    from gvetool.kernel.options import parse_assignments

    return {MODEL_OPTIONS: parse_assignments(pairs)}
