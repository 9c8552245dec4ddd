"""A compact sampling pass's activations, kept and re-laid as the packed layers' own.

Compact sampling (:func:`gvetool.nn.decoding.decode`) drops a sentence from the batch once
it ends, so step ``t`` computes exactly the rows whose sentences are longer than ``t``:
the rows that step ``t`` of the length-sorted packed layout (:class:`Packing`) holds,
in another order. Kept step by step and permuted into that order once the lengths are
known, the sampling pass's gate activations, cells and outputs are what the packed layers
would compute by teacher-forcing the sampled sentences with dropout off, which is how
re-scoring computes REINFORCE. Handed to :meth:`PackedLSTM.forward`, they let GVE
backpropagate REINFORCE through the sampling pass with the packed layers' hand-written
backward and no second forward pass.

Each field is kept in one buffer sized for the longest pass the record allows, filled
step after step. A buffer that large is its own memory mapping, whose
untouched pages cost nothing, and it is returned to the system whole when the step is
done. Kept as one small tensor per step instead, the record was interleaved on the heap
with each step's freed temporaries: at the original sizes the holes they left kept about
240 MB resident after an untrained model's first step (``benchmarks/train_memory.py``).
"""

from __future__ import annotations

import torch

from gvetool.nn.lstm import Activations

FIELDS = ("gates", "cells", "outputs")


class SamplingRecord:
    """Each step's activations of both LSTMs and the batch rows they belong to.

    ``capacity``: the most rows it keeps over the whole pass. A pass that computes more
    drops what was kept (``overflowed``) and keeps nothing after.
    """

    def __init__(self, layers: int, capacity: int) -> None:
        self.rows: list[torch.Tensor] = []
        self.overflowed = False
        self._capacity = capacity
        self._used = 0
        self._buffers: list[dict[str, torch.Tensor]] = [{} for _ in range(layers)]

    def add(
        self, rows: torch.Tensor, *layers: tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> None:
        """One step: its rows' batch indices and, per layer, ``((hidden, cell), gates)``."""
        start, end = self._used, self._used + len(rows)
        if self.overflowed or end > self._capacity:
            self.overflowed = True
            self.rows.clear()
            self._buffers = [{} for _ in self._buffers]
            return
        self.rows.append(rows)
        for buffers, ((hidden, cell), gates) in zip(self._buffers, layers, strict=True):
            for field, value in zip(FIELDS, (gates, cell, hidden), strict=True):
                if field not in buffers:
                    buffers[field] = value.new_empty(self._capacity, value.shape[1])
                buffers[field][start:end].copy_(value)
        self._used = end

    def packed(self, lengths: torch.Tensor) -> list[Activations]:
        """Every layer's activations in the packed order of the sentences sorted by
        ``lengths`` (descending, stable: :meth:`Captioner.token_states`'s order).

        Step ``t``'s rows are the ``n_t`` longest sentences, which are the first ``n_t``
        of that order, so each step's block stays where it is and is permuted in place:
        the re-laid record takes no more memory than the record.
        """
        order = torch.argsort(lengths, descending=True, stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order), device=order.device)
        start, blocks = 0, []
        for rows in self.rows:
            blocks.append((start, start + len(rows), torch.argsort(rank[rows])))
            start += len(rows)
        layers = []
        for buffers in self._buffers:
            for buffer in buffers.values():
                for begin, end, permutation in blocks:
                    block = buffer[begin:end]
                    block.copy_(block.index_select(0, permutation))
            layers.append(Activations(**{field: buffers[field][: self._used] for field in FIELDS}))
        self.rows.clear()
        self._buffers = [{} for _ in self._buffers]
        return layers
