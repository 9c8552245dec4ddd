"""A compact sampling pass's activations, kept and re-laid as the packed layers' own.

Compact sampling (:func:`gvetool.decoding.decode`) drops a sentence from the batch once
it ends, so step ``t`` computes exactly the rows whose sentences are longer than ``t``:
the rows that step ``t`` of the length-sorted packed layout (:class:`Packing`) holds,
in another order. Kept step by step and permuted into that order once the lengths are
known, the sampling pass's gate activations, cells and outputs are what the packed layers
would compute by teacher-forcing the sampled sentences with dropout off, which is how
re-scoring computes REINFORCE. Handed to :meth:`PackedLSTM.forward`, they let GVE
backpropagate REINFORCE through the sampling pass with the packed layers' hand-written
backward and no second forward pass.
"""

from __future__ import annotations

import torch

from gvetool.models.lstm import Activations

FIELDS = ("gates", "cells", "outputs")


class SamplingRecord:
    """Each step's activations of both LSTMs and the batch rows they belong to."""

    def __init__(self, layers: int) -> None:
        self.rows: list[torch.Tensor] = []
        self._kept: list[dict[str, list[torch.Tensor]]] = [
            {field: [] for field in FIELDS} for _ in range(layers)
        ]

    def add(
        self, rows: torch.Tensor, *layers: tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> None:
        """One step: its rows' batch indices and, per layer, ``((hidden, cell), gates)``."""
        self.rows.append(rows)
        for kept, ((hidden, cell), gates) in zip(self._kept, layers, strict=True):
            kept["gates"].append(gates)
            kept["cells"].append(cell)
            kept["outputs"].append(hidden)

    def packed(self, lengths: torch.Tensor) -> list[Activations]:
        """Every layer's activations in the packed order of the sentences sorted by
        ``lengths`` (descending, stable: :meth:`Captioner.token_states`'s order).

        The record is emptied field by field as it is copied, so the copy never holds
        much more memory than the record did.
        """
        order = torch.argsort(lengths, descending=True, stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order), device=order.device)
        sizes = [len(rows) for rows in self.rows]
        starts = torch.tensor([0, *sizes[:-1]], device=order.device).cumsum(0)
        steps = zip(starts, self.rows, strict=True)
        positions = torch.cat([start + rank[rows] for start, rows in steps])
        layers = []
        for kept in self._kept:
            fields = {}
            for field in FIELDS:
                steps = kept[field]
                buffer = steps[0].new_empty(len(positions), steps[0].shape[1])
                offset = 0
                while steps:
                    block = steps.pop(0)
                    buffer.index_copy_(0, positions[offset : offset + len(block)], block)
                    offset += len(block)
                fields[field] = buffer
            layers.append(Activations(**fields))
        self.rows.clear()
        return layers
