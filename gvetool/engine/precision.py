"""``--precision``: the dtype a training step's matrix products run in.

``fp32`` (the default, the original's) runs everything in float32. ``bf16`` runs the
forward passes of a step (sampling, teacher-forced and re-scoring passes) under
``torch.autocast`` with bfloat16: weights, optimizer state and gradients stay float32,
softmax and cross-entropy are computed in float32, and no loss scaling is needed
(bfloat16 has float32's range). Validation and evaluation always run in float32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from gvetool.config import PRECISION_NAMES

DTYPES: dict[str, torch.dtype | None] = dict(
    zip(PRECISION_NAMES, (None, torch.bfloat16), strict=True)
)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The context a training step's forward passes run in."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
