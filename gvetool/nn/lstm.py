"""An LSTM layer over packed sequences, with an optional constant gate input per sentence.

Two kinds of wasted work are avoided here, without changing the maths of an LSTM:

* **padding** — sequences run time-major over a batch sorted by length, so step ``t``
  touches only the sentences still running (as ``nn.utils.rnn.PackedSequence`` does);
* **constant inputs** — LRCN's second LSTM reads the image (and GVE's the class) at every
  step. Where no dropout mask varies them from step to step (generation, sampling and the
  re-scoring of samples), their contribution ``W_img @ image (+ W_cls @ onehot)`` to the
  gates is the same at every step of a sentence, so it is passed in once as
  ``gate_offset`` ``[B, 4H]`` instead of being concatenated to the input and multiplied
  again at every token. Teacher-forced training draws a fresh dropout mask per step over
  the whole input, as the original does, and so concatenates (``weight_ih`` argument).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gvetool.nn.execution import compute_dtype, execution_for


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


@dataclass(frozen=True)
class Activations:
    """A packed layer's forward pass: gate activations ``[N, 4H]``, cells and outputs
    ``[N, H]``, in a :class:`Packing`'s order.

    What backpropagation through the layer reads. GVE's sampling loop computes them step
    by step (:class:`gvetool.nn.sampling_record.SamplingRecord`) and hands them to
    :meth:`PackedLSTM.forward`, which then builds the layer's graph without computing
    the pass a second time.
    """

    gates: torch.Tensor
    cells: torch.Tensor
    outputs: torch.Tensor


def lstm_cell(gates: torch.Tensor, cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM update from pre-activation gates (order: input, forget, cell, output)."""
    i, f, g, o = gates.chunk(4, dim=1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


def _activate(
    block: torch.Tensor, cell: torch.Tensor | None, hidden_out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's update from its pre-activation gates ``block`` ``[n, 4H]`` (input,
    forget, cell, output), turned in place into the gate activations that backpropagation
    reads; ``cell`` is the rows' previous cell (None: the zero state). Returns the new
    ``(cell, hidden)``, the hidden state written into ``hidden_out`` where given."""
    hidden_size = block.shape[1] // 4
    block[:, : 2 * hidden_size].sigmoid_()
    block[:, 2 * hidden_size : 3 * hidden_size].tanh_()
    block[:, 3 * hidden_size :].sigmoid_()
    i, f, g, o = block.chunk(4, dim=1)
    fresh = i * g
    cell = fresh if cell is None else f * cell + fresh
    return cell, torch.mul(o, cell.tanh(), out=hidden_out)


def _run(
    gates: torch.Tensor,
    weight_hh: torch.Tensor,
    gate_offset: torch.Tensor | None,
    batch_sizes: list[int],
) -> Activations:
    """Run the recurrence over packed input gates ``[N, 4H]``.

    ``gates`` holds each token's input projection and is turned, in place, into that
    token's gate activations, which backpropagation needs: one ``[N, 4H]`` buffer serves
    as projection and activations.
    """
    hidden_size = weight_hh.shape[1]
    cells = gates.new_empty(gates.shape[0], hidden_size)
    outputs = gates.new_empty(gates.shape[0], hidden_size)
    hidden = cell = None
    start = 0
    for n in batch_sizes:
        end = start + n
        block = gates[start:end]
        if hidden is not None:  # the state starts at 0: nothing to add at the first step
            block.addmm_(hidden[:n], weight_hh.T)
        if gate_offset is not None:
            block += gate_offset[:n]
        cell, hidden = _activate(block, None if cell is None else cell[:n], outputs[start:end])
        cells[start:end] = cell
        start = end
    return Activations(gates, cells, outputs)


class _Recurrence(torch.autograd.Function):
    """A packed LSTM layer (input projection and recurrence) with hand-written backward.

    Autograd through a per-step loop computes the recurrent weight's gradient as one
    ``[4H, n] @ [n, H]`` product *per step* and accumulates a full ``4H x H`` matrix each
    time: memory-bound, and most of a GVE step on a CPU. Here the backward pass walks the
    steps for the gradients that must flow through time, collects every step's gate
    gradients, and forms the weight gradients in one matrix product each at the end. Same
    maths (checked against autograd with ``gradcheck``), less work.

    Memory: one ``[N, 4H]`` buffer per layer holds the input projection, then the gate
    activations, then — written over step by step as backpropagation walks back in time —
    the gate gradients. A second backward through a retained graph (``retain_graph=True``)
    finds the activations consumed and recomputes them from the saved inputs first.
    """

    @staticmethod
    def forward(ctx, inputs, bias, weight_hh, gate_offset, batch_sizes, computed, *weights_ih):  # type: ignore[override]
        if computed is None:
            computed = _run(
                _input_gates(inputs, bias, weights_ih), weight_hh, gate_offset, batch_sizes
            )
        gates, cells, outputs = computed.gates, computed.cells, computed.outputs
        ctx.batch_sizes = batch_sizes
        # Internal buffers live on ctx (not save_for_backward): backward writes over them,
        # and drops them when done, so they are freed even while the graph is referenced.
        ctx.buffers = gates, cells
        ctx.save_for_backward(inputs, bias, weight_hh, gate_offset, outputs, *weights_ih)
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs):  # type: ignore[override]
        inputs, bias, weight_hh, gate_offset, outputs, *weights_ih = ctx.saved_tensors
        sizes = ctx.batch_sizes
        if ctx.buffers is None:  # consumed by an earlier backward through a retained graph
            recomputed = _run(_input_gates(inputs, bias, weights_ih), weight_hh, gate_offset, sizes)
            gates, cells = recomputed.gates, recomputed.cells
        else:
            gates, cells = ctx.buffers
            ctx.buffers = None
        hidden_size = weight_hh.shape[1]
        starts = [0]
        for n in sizes[:-1]:
            starts.append(starts[-1] + n)
        grad_hidden = grad_cell = None  # flowing back from step t + 1
        for t in range(len(sizes) - 1, -1, -1):
            n, start = sizes[t], starts[t]
            end = start + n
            dh = grad_outputs[start:end].clone()
            dc = torch.zeros_like(dh)
            if grad_hidden is not None:
                m = grad_hidden.shape[0]
                dh[:m] += grad_hidden
                dc[:m] += grad_cell
            block = gates[start:end]  # step t's activations, replaced by its gate gradients
            i, f, g, o = block.chunk(4, dim=1)
            tanh_c = cells[start:end].tanh()
            dc += dh * o * (1 - tanh_c * tanh_c)
            cell_before = cells[starts[t - 1] : starts[t - 1] + n] if t else torch.zeros_like(dc)
            grads = (
                dc * g * i * (1 - i),
                dc * cell_before * f * (1 - f),
                dc * i * (1 - g * g),
                dh * tanh_c * o * (1 - o),
            )
            grad_cell = dc * f
            for k, grad in enumerate(grads):
                block[:, k * hidden_size : (k + 1) * hidden_size] = grad
            grad_hidden = block @ weight_hh
        grad_gates = gates
        needs = ctx.needs_input_grad
        blocks = _column_blocks(inputs, weights_ih)
        grad_inputs = None
        if needs[0]:
            grad_inputs = inputs.new_empty(inputs.shape)
            for (start, end), weight in zip(blocks, weights_ih, strict=True):
                grad_inputs[:, start:end] = grad_gates @ weight
        grad_weights_ih = [
            grad_gates.T @ inputs[:, start:end] if need else None
            for (start, end), need in zip(blocks, needs[6:], strict=True)
        ]
        grad_bias = grad_gates.sum(0) if needs[1] else None
        grad_weight_hh = None
        if needs[2]:
            # Every step's share of the recurrent weight's gradient in one product: step
            # t's gate gradients times the hidden state each row had at step t - 1 (0 at
            # t = 0, so the first step adds nothing).
            before = [outputs[s : s + n] for n, s in zip(sizes[1:], starts, strict=False)]
            grad_weight_hh = (
                grad_gates[sizes[0] :].T @ torch.cat(before)
                if before
                else torch.zeros_like(weight_hh)
            )
        grad_offset = None
        if gate_offset is not None and needs[3]:
            grad_offset = grad_gates.new_zeros(sizes[0], grad_gates.shape[1])
            for n, start in zip(sizes, starts, strict=True):
                grad_offset[:n] += grad_gates[start : start + n]
        return grad_inputs, grad_bias, grad_weight_hh, grad_offset, None, None, *grad_weights_ih


def _column_blocks(
    inputs: torch.Tensor, weights_ih: Sequence[torch.Tensor]
) -> list[tuple[int, int]]:
    """The input's column range that each input weight reads, in order."""
    bounds, start = [], 0
    for weight in weights_ih:
        bounds.append((start, start + weight.shape[1]))
        start += weight.shape[1]
    if start != inputs.shape[1]:
        raise ValueError(f"input weights read {start} columns, the input has {inputs.shape[1]}")
    return bounds


def _input_gates(
    inputs: torch.Tensor, bias: torch.Tensor, weights_ih: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Every step's input part of the gates, ``bias + sum_k inputs[:, block k] @ W_k^T``.

    One product per block of columns instead of one with the blocks' concatenated weight:
    the same arithmetic without a copy of the weights (35 MB for GVE's LSTM 2 at the
    original sizes) and of their gradient.
    """
    gates: torch.Tensor | None = None
    for (start, end), weight in zip(_column_blocks(inputs, weights_ih), weights_ih, strict=True):
        block = inputs[:, start:end]
        if gates is None:
            gates = torch.addmm(bias, block, weight.T)
        else:
            gates.addmm_(block, weight.T)
    assert gates is not None, "an LSTM needs an input weight"
    return gates


def _fused(
    inputs: torch.Tensor, params: list[torch.Tensor], batch_sizes: list[int]
) -> torch.Tensor:
    """The packed layer through ``torch.lstm``, the fused kernel behind ``nn.LSTM``.

    ``params`` are ``[weight_ih, weight_hh, bias_ih, bias_hh]``. They are this call's
    tensors (LSTM 2's input weight is concatenated per call), so cuDNN copies them into
    its own layout each time; its warning about that is expected and silenced.
    """
    hidden_size = params[1].shape[1]
    if not batch_sizes:
        return inputs.new_zeros(0, hidden_size)
    zeros = inputs.new_zeros(1, batch_sizes[0], hidden_size)
    sizes = torch.tensor(batch_sizes, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part")
        outputs, _, _ = torch.lstm(
            inputs, sizes, (zeros, zeros), params, True, 1, 0.0, torch.is_grad_enabled(), False
        )
    return outputs


def _fused_padded(inputs: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """A padded batch ``[B, T, in]`` through ``torch.lstm`` (cuDNN on CUDA), every row run
    for all ``T`` steps: no lengths, so nothing is read back to the host and every shape is
    fixed by the input's. Outputs at a row's real steps are the packed pass's (an LSTM reads
    only earlier steps); what it computes on padding is left for the caller to mask."""
    hidden_size = params[1].shape[1]
    zeros = inputs.new_zeros(1, inputs.shape[0], hidden_size)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part")
        outputs, _, _ = torch.lstm(
            inputs, (zeros, zeros), params, True, 1, 0.0, torch.is_grad_enabled(), False, True
        )
    return outputs.contiguous()  # batch-major in memory, as dropout draws its mask over it


class PackedLSTM(nn.Module):
    """A single LSTM layer; ``forward`` runs a packed batch, ``step`` one time step.

    Parameters and their initialisation are those of ``nn.LSTM``, which the original code
    uses: two bias vectors (``bias_ih`` and ``bias_hh``; only their sum enters the gates,
    but each is a parameter of its own, so Adam moves the effective bias twice as far as
    it would move a single one) and every tensor uniform in ``(-1/sqrt(H), 1/sqrt(H))``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTM``'s initialisation."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(
        self,
        inputs: torch.Tensor,
        packing: Packing,
        gate_offset: torch.Tensor | None = None,
        weight_ih: Sequence[torch.Tensor] | None = None,
        computed: Activations | None = None,
    ) -> torch.Tensor:
        """Packed inputs ``[N, in]`` -> packed hidden states ``[N, H]``; state starts at 0.

        ``weight_ih`` replaces the layer's input weight for this call by the weights of
        consecutive blocks of the input's columns: LRCN's LSTM 2 reads image, class and
        LSTM 1 output, whose weights are separate parameters, and passes all three.
        Where :mod:`gvetool.nn.execution` picks the fused recurrence (CUDA), a call
        without ``gate_offset`` runs through ``torch.lstm`` (cuDNN); else the packed loop.
        ``computed``: this pass's activations, already computed from these inputs and
        weights (by :meth:`recorded_step`, step by step): the graph is built around them,
        the recurrence is not run again.
        """
        blocks = [self.weight_ih] if weight_ih is None else list(weight_ih)
        dtype = compute_dtype(inputs)
        weights_ih = [w.to(dtype) for w in blocks]
        w_hh, b_ih, b_hh = (w.to(dtype) for w in (self.weight_hh, self.bias_ih, self.bias_hh))
        with torch.autocast(inputs.device.type, enabled=False):
            inputs = inputs.to(dtype)
            fused = computed is None and execution_for(inputs.device).fused_recurrence
            if gate_offset is None and fused:
                w_ih = weights_ih[0] if len(weights_ih) == 1 else torch.cat(weights_ih, dim=1)
                return _fused(inputs, [w_ih, w_hh, b_ih, b_hh], packing.batch_sizes)
            offset = None if gate_offset is None else gate_offset.to(dtype)
            return _Recurrence.apply(
                inputs, b_ih + b_hh, w_hh, offset, packing.batch_sizes, computed, *weights_ih
            )

    def padded(
        self, inputs: torch.Tensor, weight_ih: Sequence[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Padded inputs ``[B, T, in]`` -> hidden states ``[B, T, H]``, every row run for
        all ``T`` steps through the fused kernel (the fixed-shape training step's layer:
        no packing, so no lengths read back to the host). ``weight_ih`` as in
        :meth:`forward`. Rows' real steps equal :meth:`forward`'s packed outputs."""
        blocks = [self.weight_ih] if weight_ih is None else list(weight_ih)
        dtype = compute_dtype(inputs)
        weights = [w.to(dtype) for w in (self.weight_hh, self.bias_ih, self.bias_hh)]
        w_ih = torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]
        with torch.autocast(inputs.device.type, enabled=False):
            return _fused_padded(inputs.to(dtype), [w_ih.to(dtype), *weights])

    def step(
        self,
        inputs: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
        gate_offset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for ``[B, in]`` inputs from ``(hidden, cell)``; returns the new state."""
        hidden, cell = state
        gates = F.linear(inputs, self.weight_ih, self.bias_ih + self.bias_hh)
        gates = gates + hidden @ self.weight_hh.T
        if gate_offset is not None:
            gates = gates + gate_offset
        return lstm_cell(gates, cell)

    @torch.no_grad()
    def recorded_step(
        self,
        inputs: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
        gate_offset: torch.Tensor | None = None,
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """:meth:`step` computed as the packed loop computes a step, returning the new
        ``(hidden, cell)`` and the step's gate activations ``[B, 4H]`` as well: the pieces
        of :class:`Activations` that a later :meth:`forward` builds its graph around."""
        hidden, cell = state
        gates = torch.addmm(self.bias_ih + self.bias_hh, inputs, self.weight_ih.T)
        # under autocast the gates are bf16 and an in-place product is not autocast
        gates.addmm_(hidden.to(gates.dtype), self.weight_hh.T.to(gates.dtype))
        if gate_offset is not None:
            gates += gate_offset
        # in the gates' dtype, as the packed loop keeps every activation (bf16 under autocast)
        cell, hidden = _activate(gates, cell.to(gates.dtype))
        return (hidden, cell), gates

    def zero_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = like.new_zeros(batch, self.hidden_size)
        return zeros, zeros.clone()
