"""Sampling and greedy decoding on CUDA as one captured decoding step, replayed per token.

A decoding step is some thirty small kernels (embedding, two LSTM cells, the output layer,
softmax, the draw, the bookkeeping of ended sentences). At GVE's sizes on a GPU each takes
microseconds and Python spends longer launching them than the GPU spends running them,
so sampling dominated a training step. Captured once into a CUDA graph, a step is one
launch. The graph reads and writes fixed buffers (the words, both LSTM states, the
sentences so far, their lengths, the step counter), so it is kept per batch size, mode
(greedy or sampled) and precision, and rebuilt if the weights move to new memory (the
optimizer and ``load_state_dict`` update them in place, which a graph sees).

The captured step is the fixed-batch step of :meth:`Captioner.generate` (ended rows
masked, no host synchronisation), with the same random draws from the default CUDA
generator (graph-safe in PyTorch); ``tests/test_execution.py`` compares it with the
uncaptured path on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from gvetool.data.vocab import Vocabulary
from gvetool.models.execution import SYNC_EVERY
from gvetool.models.sampling import draw_words

if TYPE_CHECKING:
    from gvetool.models.captioner import Captioner

MAX_GRAPHS = 4  # batch sizes x modes kept per model (training, last batch, validation...)
WARMUP_STEPS = 3  # run on a side stream before capture, as CUDA graphs require


@dataclass
class _Buffers:
    word: torch.Tensor
    states: list[torch.Tensor]  # h1, c1, h2, c2
    offset: torch.Tensor
    running: torch.Tensor
    tokens: torch.Tensor
    lengths: torch.Tensor
    step: torch.Tensor

    def reset(self, offset: torch.Tensor, max_len: int) -> None:
        self.word.fill_(Vocabulary.start_id)
        for state in self.states:
            state.zero_()
        self.offset.copy_(offset)
        self.running.fill_(True)
        self.tokens.zero_()
        self.lengths.fill_(max_len)
        self.step.zero_()


class _Graph:
    def __init__(self, model: Captioner, offset: torch.Tensor, max_len: int, greedy: bool):
        batch, device = len(offset), offset.device
        hidden = model.lstm1.hidden_size
        self.max_len = max_len
        self.buffers = _Buffers(
            word=torch.empty(batch, dtype=torch.long, device=device),
            states=[offset.new_empty(batch, hidden) for _ in range(4)],
            offset=torch.empty_like(offset),
            running=torch.empty(batch, dtype=torch.bool, device=device),
            tokens=torch.empty(batch, max_len, dtype=torch.long, device=device),
            lengths=torch.empty(batch, dtype=torch.long, device=device),
            step=torch.empty(1, dtype=torch.long, device=device),
        )
        self.buffers.reset(offset, max_len)
        autocast = torch.is_autocast_enabled("cuda")
        dtype = torch.get_autocast_dtype("cuda")

        def step() -> None:
            # Autocast's weight-cast cache must be off while capturing.
            with torch.autocast("cuda", dtype=dtype, enabled=autocast, cache_enabled=False):
                self._step(model, greedy)

        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            step()

    def _step(self, model: Captioner, greedy: bool) -> None:
        b = self.buffers
        states, logits = model._step(b.word, ((b.states[0], b.states[1]),
                                              (b.states[2], b.states[3])), b.offset)  # fmt: skip
        word = logits.argmax(dim=1) if greedy else draw_words(logits)
        word = word.masked_fill(~b.running, 0)
        b.tokens.scatter_(1, b.step.expand(len(word), 1).clamp(max=self.max_len - 1), word[:, None])
        ended = b.running & (word == Vocabulary.end_id)
        b.lengths.copy_(torch.where(ended, b.step + 1, b.lengths))
        b.running.logical_and_(~ended)
        b.word.copy_(word)
        for buffer, value in zip(b.states, (*states[0], *states[1]), strict=True):
            buffer.copy_(value)
        b.step.add_(1)

    def run(self, offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.buffers
        b.reset(offset, self.max_len)
        for t in range(self.max_len):
            self.graph.replay()
            if (t + 1) % SYNC_EVERY == 0 and not bool(b.running.any()):
                break
        width = int(b.lengths.max())
        return b.tokens[:, :width].clone(), b.lengths.clone()


def graphed_generate(
    model: Captioner, offset: torch.Tensor, max_len: int, greedy: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.generate``'s result for the per-sentence gate input ``offset``, on CUDA."""
    cache: dict[tuple, _Graph] = model.__dict__.setdefault("_decoding_graphs", {})
    key = (
        len(offset),
        max_len,
        greedy,
        offset.dtype,
        torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda"),
        tuple(p.data_ptr() for p in model.parameters()),
    )
    graph = cache.get(key)
    if graph is None:
        if len(cache) >= MAX_GRAPHS:
            cache.clear()
        graph = cache[key] = _Graph(model, offset, max_len, greedy)
    return graph.run(offset)
