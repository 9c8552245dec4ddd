"""A timm model, classifier removed, as a gvetool image encoder."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import timm
import torch
from timm.data import create_transform, resolve_data_config

from gvetool.plugin_api import GvetoolError, ImageEncoder


def build(variant: str, weights: str = "pretrained") -> ImageEncoder:
    """``timm:<variant>`` with ``weights`` pretrained | none | PATH; pooled features."""
    if variant not in timm.list_models():
        close = timm.list_models(f"*{variant}*")[:5]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise GvetoolError(f"timm has no model '{variant}'{hint}")
    try:
        with torch.random.fork_rng(), _quiet_hub():  # random init: the same in every run
            torch.manual_seed(0)
            model = timm.create_model(variant, pretrained=weights == "pretrained", num_classes=0)
    except (OSError, RuntimeError, ValueError) as exc:  # hub unreachable, no weights, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GvetoolError(
            f"timm could not load pretrained weights for {variant} ({first}); they come from "
            "the Hugging Face hub (cached copies are used offline; HF_HUB_OFFLINE=1 fails at "
            "once): connect, or use --encoder-weights none|PATH"
        ) from None
    identity = {"pretrained": "pretrained", "none": "random-init-seed0"}.get(weights)
    if identity is None:
        identity = _load_file(model, Path(weights))
    transform = create_transform(**resolve_data_config({}, model=model))
    return ImageEncoder(f"timm:{variant}", model.eval(), transform, f"timm:{variant}|{identity}")


@contextmanager
def _quiet_hub() -> Iterator[None]:
    """Silence the hub client's retry chatter: the outcome is reported in one line."""
    from huggingface_hub.utils import logging as hub_logging

    level = hub_logging.get_verbosity()
    hub_logging.set_verbosity_error()
    try:
        yield
    finally:
        hub_logging.set_verbosity(level)


def _load_file(model: torch.nn.Module, path: Path) -> str:
    if not path.is_file():
        raise GvetoolError(
            f"--encoder-weights: no such file {path} (use pretrained, none or a path)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # whatever torch.load trips over, the file holds no state dict
        raise GvetoolError(f"{path} is not a loadable state dict ({type(exc).__name__})") from None
    missing, _ = model.load_state_dict(state, strict=False)  # the classifier is gone: extra keys
    if missing:
        raise GvetoolError(
            f"--encoder-weights {path} do not fit this model (missing {missing[0]}, ...)"
        )
    return "file:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
