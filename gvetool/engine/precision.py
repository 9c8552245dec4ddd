"""``--precision``: the dtype a training step's matrix products run in.

``fp32`` (the default, the original's) runs everything in float32. ``bf16`` runs the
forward passes of a step (sampling, teacher-forced and re-scoring passes) under
``torch.autocast`` with bfloat16: weights, optimizer state and gradients stay float32,
softmax and cross-entropy are computed in float32, and no loss scaling is needed
(bfloat16 has float32's range). ``fp64`` keeps weights, optimizer state, features and
every product in float64: several times slower, for checking numerics (two processes
against one, a formulation against another) below float32's rounding noise. Evaluation
always runs in float32; validation during training runs in the weights' dtype.

On CUDA, float32 products may run on TensorFloat-32 tensor cores (Ampere and later: a
10-bit mantissa for the products' inputs, float32 accumulation). PyTorch's defaults leave
that off for matrix products and *on* for cuDNN, so an ``nn.LSTM`` (the original's
teacher-forced pass; gvetool's on CUDA) runs in TF32 while everything else runs in
float32. Under gvetool, ``fp32`` means float32 everywhere, cuDNN included, and ``tf32``
turns TF32 on for both, for the whole run (:func:`cuda_products`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from gvetool.config.schema import PRECISION_NAMES

# The dtype forward passes autocast to (None: no autocast) and the dtype of the weights.
DTYPES: dict[str, torch.dtype | None] = dict(
    zip(PRECISION_NAMES, (None, torch.bfloat16, None, None), strict=True)
)
WEIGHT_DTYPES: dict[str, torch.dtype] = dict(
    zip(PRECISION_NAMES, (torch.float32, torch.float32, torch.float64, torch.float32), strict=True)
)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The context a training step's forward passes run in."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@contextlib.contextmanager
def cuda_products(precision: str) -> Iterator[None]:
    """Inside the block CUDA's float32 products (cuBLAS and cuDNN) use TF32 under
    ``tf32`` and never otherwise; the flags are global, so they are given back on exit
    (a library caller's own choice survives a run). No effect on a CPU."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = matmul.allow_tf32, cudnn.allow_tf32
    matmul.allow_tf32 = cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = before
