"""A model's own options: declared by its spec as a dataclass, set from TOML or the CLI.

A plugin model with hyper-parameters of its own (layers, heads...) declares them as a
dataclass with defaults (and ``field(metadata={"help": ...})``) in ``ModelSpec.options``;
users set them in a ``[model_options]`` table or with ``--model-option KEY=VALUE``. They
are checked here, once, with one-line errors; the resolved values (defaults filled in)
are saved in ``config.toml`` and checkpoints, so resume, transfer and cv inherit them as
they inherit every other setting. The factory reads ``Options(**config.model_options)``.
A launcher's options (``LauncherSpec.options``) are declared and checked the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from typing import Any

from gvetool.kernel.specs import ModelSpec
from gvetool.utils.errors import GvetoolError

SCALARS = {"int": int, "float": float, "str": str, "bool": bool}


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["layers=2", "act=gelu"]`` -> ``{"layers": 2, "act": "gelu"}`` (values as JSON
    where they parse: numbers, ``true``/``false``; else strings)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise GvetoolError(f"--model-option {pair!r}: write KEY=VALUE, e.g. layers=2")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        options[key.strip().replace("-", "_")] = value
    return options


def option_fields(spec: ModelSpec) -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(spec.options)) if spec.options is not None else []


def resolve_model_options(spec: ModelSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Every option of ``spec``'s model: the given values checked, defaults filled in."""
    return resolve_options(f"model '{spec.name}'", spec.options, given)


def resolve_options(owner: str, options: type | None, given: dict[str, Any]) -> dict[str, Any]:
    """Every field of the ``options`` dataclass that ``owner`` (``"model 'gve'"``,
    ``"launcher 'local'"``) declares: the given values checked, defaults filled in."""
    declared = {f.name: f for f in dataclasses.fields(options)} if options is not None else {}
    for key in given:
        if key not in declared:
            known = ", ".join(declared) or "none"
            close = difflib.get_close_matches(key, list(declared), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise GvetoolError(f"{owner} has no option '{key}' (its options: {known}){hint}")
    if options is None:
        return {}
    hints = typing.get_type_hints(options)
    values = {key: _checked(owner, key, value, hints[key]) for key, value in given.items()}
    try:
        resolved = options(**values)
    except (ValueError, TypeError) as exc:
        raise GvetoolError(f"{owner} options: {exc}") from None
    return dataclasses.asdict(resolved)


def without_none(hint: Any) -> Any:
    """``int`` for ``int | None`` (an option or key that may be unset); else ``hint``."""
    args = typing.get_args(hint)
    if type(None) not in args:
        return hint
    return next(t for t in args if t is not type(None))


def _checked(owner: str, key: str, value: Any, hint: Any) -> Any:
    if value is None and type(None) in typing.get_args(hint):
        return None
    hint = without_none(hint)
    kind = hint if hint in SCALARS.values() else None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and not isinstance(value, str):
        return json.dumps(value)
    if kind is not None and (
        not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
    ):
        raise GvetoolError(f"{owner} option {key} must be {kind.__name__}, got {value!r}")
    return value
