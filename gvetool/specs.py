"""What a plugin registers: small frozen descriptions of a model, dataset or encoder.

A spec names its implementation either as a callable or as a ``"module:attribute"``
string. The string form is what the built-ins use: registering must not import torch or
torchvision (seconds each), so ``gvetool --help`` and ``gvetool plugins`` stay instant and
the heavy module is imported only when the thing is actually used.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from gvetool.errors import GvetoolError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _resolve(target: Callable[..., Any] | str, what: str) -> Callable[..., Any]:
    if callable(target):
        return target
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise GvetoolError(
            f"{what} could not be loaded from {target} ({type(exc).__name__}: {exc}); "
            "reinstall the package that provides it"
        ) from exc
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Spec:
    """Common part of every spec: a unique name, a one-line description, a target.

    ``target`` is the factory; what it is called with depends on the kind and is
    documented in :mod:`gvetool.hookspecs`.
    """

    kind: ClassVar[str] = "component"

    name: str
    description: str
    target: Callable[..., Any] | str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"{self.kind} name {self.name!r} must be lowercase letters, digits, '_', '.' "
                "or '-', starting with a letter or digit"
            )
        if not isinstance(self.target, str) and not callable(self.target):
            raise ValueError(f"{self.kind} {self.name!r}: target must be callable or 'module:attr'")
        if isinstance(self.target, str) and ":" not in self.target:
            raise ValueError(
                f"{self.kind} {self.name!r}: target {self.target!r} must be 'module:attribute'"
            )

    def load(self) -> Callable[..., Any]:
        """The factory, importing its module on first use when given as a string."""
        return _resolve(self.target, f"{self.kind} '{self.name}'")


@dataclass(frozen=True)
class ModelSpec(Spec):
    """A captioning or classification model.

    The ``needs_*`` flags let the CLI refuse a combination before training starts (a GVE
    on a dataset without classes, a GVE without a sentence classifier) instead of after
    an hour of work. ``class_conditioned`` says the model reads the class it explains, so
    it can explain an image as another class (counterfactuals, ``explain --class``).
    """

    kind: ClassVar[str] = "model"

    needs_classes: bool = False
    needs_sentence_classifier: bool = False
    class_conditioned: bool = False


@dataclass(frozen=True)
class DatasetSpec(Spec):
    """A dataset: a corpus of images, captions and (optionally) classes.

    Optional steps, callables or ``"module:attribute"`` like the target:
    ``prepare(data_root) -> dict[str, int]`` turns raw release files into the layout the
    target reads (``gvetool data prepare``); ``download(data_root, mirror) -> None``
    fetches the public release (``gvetool data download``).
    """

    kind: ClassVar[str] = "dataset"

    has_classes: bool = True
    prepare: Callable[..., Any] | str | None = None
    download: Callable[..., Any] | str | None = None

    def load_step(self, step: str) -> Callable[..., Any]:
        """The ``prepare`` or ``download`` step; a dataset without it is a clear error."""
        target = getattr(self, step)
        if target is None:
            raise GvetoolError(f"dataset '{self.name}' has no {step} step")
        return _resolve(target, f"dataset '{self.name}' {step} step")


@dataclass(frozen=True)
class EncoderSpec(Spec):
    """An image encoder that turns images into fixed-size feature vectors.

    With ``variants=True`` the spec is a family: ``--encoder NAME:VARIANT`` calls the
    target with ``variant="VARIANT"`` (one plugin can offer a whole model zoo).
    """

    kind: ClassVar[str] = "encoder"

    variants: bool = False
