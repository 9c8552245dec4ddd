"""``--precision``: the dtype a training step's matrix products run in.

``fp32`` (the default, the original's) runs everything in float32. ``bf16`` runs the
forward passes of a step (sampling, teacher-forced and re-scoring passes) under
``torch.autocast`` with bfloat16: weights, optimizer state and gradients stay float32,
softmax and cross-entropy are computed in float32, and no loss scaling is needed
(bfloat16 has float32's range). ``fp64`` keeps weights, optimizer state, features and
every product in float64: several times slower, for checking numerics (two processes
against one, a formulation against another) below float32's rounding noise. Evaluation
always runs in float32; validation during training runs in the weights' dtype.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from gvetool.config import PRECISION_NAMES

# The dtype forward passes autocast to (None: no autocast) and the dtype of the weights.
DTYPES: dict[str, torch.dtype | None] = dict(
    zip(PRECISION_NAMES, (None, torch.bfloat16, None), strict=True)
)
WEIGHT_DTYPES: dict[str, torch.dtype] = dict(
    zip(PRECISION_NAMES, (torch.float32, torch.float32, torch.float64), strict=True)
)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The context a training step's forward passes run in."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
