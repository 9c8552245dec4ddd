"""An LSTM layer over packed sequences, with an optional constant gate input per sentence.

Two kinds of wasted work are avoided here, without changing the maths of an LSTM:

* **padding** — sequences run time-major over a batch sorted by length, so step ``t``
  touches only the sentences still running (as ``nn.utils.rnn.PackedSequence`` does);
* **constant inputs** — LRCN's second LSTM reads the image (and GVE's the class) at every
  step. Their contribution ``W_img @ image (+ W_cls @ onehot)`` to the gates is the same at
  every step of a sentence, so it is passed in once as ``gate_offset`` ``[B, 4H]`` instead
  of being concatenated to the input and multiplied again at every token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Packing:
    """Time-major packed layout of a batch whose lengths are sorted in descending order.

    Packed position ``k`` holds row ``rows[k]`` at step ``steps[k]``; step ``t`` occupies
    ``batch_sizes[t]`` consecutive positions (the rows still running).
    """

    batch_sizes: list[int]
    rows: torch.Tensor
    steps: torch.Tensor

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor) -> Packing:
        lengths = lengths.cpu()
        if len(lengths) and bool((lengths[:-1] < lengths[1:]).any()):
            raise ValueError("lengths must be sorted in descending order")
        width = int(lengths.max()) if len(lengths) else 0
        sizes = [int((lengths > t).sum()) for t in range(width)]
        rows = (
            torch.cat([torch.arange(n) for n in sizes])
            if sizes
            else torch.zeros(0, dtype=torch.long)
        )
        steps = torch.repeat_interleave(torch.arange(width), torch.tensor(sizes, dtype=torch.long))
        return cls(sizes, rows, steps)

    def to(self, device: torch.device) -> Packing:
        return Packing(self.batch_sizes, self.rows.to(device), self.steps.to(device))

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """``padded[B, T, ...]`` -> ``packed[N, ...]`` in this layout."""
        return padded[self.rows, self.steps]


def lstm_cell(gates: torch.Tensor, cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM update from pre-activation gates (order: input, forget, cell, output)."""
    i, f, g, o = gates.chunk(4, dim=1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


class PackedLSTM(nn.Module):
    """A single LSTM layer; ``forward`` runs a packed batch, ``step`` one time step."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))

    def forward(
        self, inputs: torch.Tensor, packing: Packing, gate_offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Packed inputs ``[N, in]`` -> packed hidden states ``[N, H]``; state starts at 0."""
        gates_x = F.linear(inputs, self.weight_ih, self.bias)  # every step in one matmul
        batch = packing.batch_sizes[0] if packing.batch_sizes else 0
        hidden = inputs.new_zeros(batch, self.hidden_size)
        cell = inputs.new_zeros(batch, self.hidden_size)
        outputs, start = [], 0
        for n in packing.batch_sizes:
            gates = gates_x[start : start + n] + hidden[:n] @ self.weight_hh.T
            if gate_offset is not None:
                gates = gates + gate_offset[:n]
            hidden, cell = lstm_cell(gates, cell[:n])
            outputs.append(hidden)
            start += n
        return torch.cat(outputs) if outputs else inputs.new_zeros(0, self.hidden_size)

    def step(
        self,
        inputs: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
        gate_offset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for ``[B, in]`` inputs from ``(hidden, cell)``; returns the new state."""
        hidden, cell = state
        gates = F.linear(inputs, self.weight_ih, self.bias) + hidden @ self.weight_hh.T
        if gate_offset is not None:
            gates = gates + gate_offset
        return lstm_cell(gates, cell)

    def zero_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = like.new_zeros(batch, self.hidden_size)
        return zeros, zeros.clone()
