"""The batch a model's loss is given: part of the model contract, built by the data layer.

It lives with the contract (:mod:`gvetool.kernel.contracts`) rather than with the data
code that fills it because every model plugin reads it and the contract names it; it is
imported only by code that already runs torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch


@dataclass
class CaptionBatch:
    """What a model step needs. ``tokens`` end with <end> and carry no <start>."""

    features: torch.Tensor  # float32 [B, D]
    tokens: torch.Tensor  # int64 [B, L], 0 = padding
    lengths: torch.Tensor  # int64 [B]
    class_ids: torch.Tensor  # int64 [B]; -1 where the dataset has no classes
    image_index: torch.Tensor  # int64 [B], index into the split's images
    # What the summed token cross-entropy is divided by; 0: this batch's real tokens. A
    # data-parallel trainer sets it to the global batch's tokens over the number of
    # processes, so that the averaged gradients are those of the global token mean.
    ce_tokens: float = 0.0

    def mean_over(self) -> float:
        """The token count the cross-entropy of this batch is averaged over."""
        return self.ce_tokens or float(self.lengths.sum())

    def to(
        self,
        device: torch.device | str,
        non_blocking: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> CaptionBatch:
        """On ``device``, with the features in ``dtype`` (the weights' dtype)."""
        moved = self._map(lambda t: t.to(device, non_blocking=non_blocking))
        moved.features = moved.features.to(dtype)
        return moved

    def pin_memory(self) -> CaptionBatch:
        """A copy in page-locked memory (what a ``pin_memory`` DataLoader calls)."""
        return self._map(torch.Tensor.pin_memory)

    def _map(self, change: Callable[[torch.Tensor], torch.Tensor]) -> CaptionBatch:
        moved = (change(getattr(self, f.name)) for f in fields(self) if f.name != "ce_tokens")
        return CaptionBatch(*moved, ce_tokens=self.ce_tokens)
