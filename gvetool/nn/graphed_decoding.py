"""Sampling and greedy decoding on CUDA as one captured decoding step, replayed per token.

A decoding step is some thirty small kernels (embedding, two LSTM cells, the output layer,
softmax, the draw, the bookkeeping of ended sentences). At GVE's sizes on a GPU each takes
microseconds and Python spends longer launching them than the GPU spends running them,
so sampling dominated a training step. Captured once into a CUDA graph, a step is one
launch.

Any captioner's step can be captured: it is given as a callable ``step(state, words) ->
(state, logits)`` (:mod:`gvetool.nn.decoding`'s contract) over a state of tensors in nested
tuples. The graph reads and writes fixed buffers (the words, every tensor of the state,
the sentences so far, their lengths, the step counter), so a model keeps its graphs in a
:class:`DecodingGraphs` by batch shape, mode (greedy or sampled) and precision, rebuilt
if the weights move to new memory (the optimizer and ``load_state_dict`` update them in
place, which a graph sees).

The captured step is :class:`FixedBatchStep`: the fixed-batch decoding of
:func:`gvetool.nn.decoding.decode` with ``compact=False`` (ended rows masked, no host
synchronisation), with the same random draws from the default CUDA generator (graph-safe
in PyTorch). Uncaptured it runs anywhere, which is how the CPU tests check it against
``decode``; ``tests/test_execution.py`` compares the captured one with it on a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from gvetool.data.vocab import Vocabulary
from gvetool.nn.execution import SYNC_EVERY
from gvetool.nn.sampling import draw_words

Step = Callable[[Any, torch.Tensor], tuple[Any, torch.Tensor]]
T = TypeVar("T")

MAX_GRAPHS = 4  # batch sizes x modes kept per model (training, last batch, validation...)
WARMUP_STEPS = 3  # run on a side stream before capture, as CUDA graphs require


def flatten(state: Any) -> list[torch.Tensor]:
    """The tensors of a state of nested tuples/lists, in order."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [tensor for part in state for tensor in flatten(part)]


def unflatten(like: Any, tensors: list[torch.Tensor]) -> Any:
    """``tensors`` nested as ``like`` is (the inverse of :func:`flatten`)."""
    rest = iter(tensors)

    def build(part: Any) -> Any:
        if isinstance(part, torch.Tensor):
            return next(rest)
        return type(part)(build(p) for p in part)

    return build(like)


class FixedBatchStep:
    """One decoding step of every row over fixed buffers: what a CUDA graph captures."""

    def __init__(self, step: Step, state: Any, max_len: int, greedy: bool) -> None:
        tensors = flatten(state)
        device, batch = tensors[0].device, len(tensors[0])
        self.step_fn, self.like, self.max_len, self.greedy = step, state, max_len, greedy
        self.state = [torch.empty_like(t) for t in tensors]
        self.word = torch.empty(batch, dtype=torch.long, device=device)
        self.running = torch.empty(batch, dtype=torch.bool, device=device)
        self.tokens = torch.empty(batch, max_len, dtype=torch.long, device=device)
        self.lengths = torch.empty(batch, dtype=torch.long, device=device)
        self.position = torch.empty(1, dtype=torch.long, device=device)
        self.reset(state)

    def reset(self, state: Any) -> None:
        """Start again from ``state`` (the step's start state for new sentences)."""
        for buffer, value in zip(self.state, flatten(state), strict=True):
            buffer.copy_(value)
        self.word.fill_(Vocabulary.start_id)
        self.running.fill_(True)
        self.tokens.zero_()
        self.lengths.fill_(self.max_len)
        self.position.zero_()

    def __call__(self) -> None:
        state, logits = self.step_fn(unflatten(self.like, self.state), self.word)
        word = logits.argmax(dim=1) if self.greedy else draw_words(logits)
        word = word.masked_fill(~self.running, 0)
        at = self.position.expand(len(word), 1).clamp(max=self.max_len - 1)
        self.tokens.scatter_(1, at, word[:, None])
        ended = self.running & (word == Vocabulary.end_id)
        self.lengths.copy_(torch.where(ended, self.position + 1, self.lengths))
        self.running.logical_and_(~ended)
        self.word.copy_(word)
        for buffer, value in zip(self.state, flatten(state), strict=True):
            if value is not buffer:  # a part the step passes through (the offset) stays
                buffer.copy_(value)
        self.position.add_(1)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens [B, T], lengths [B])`` as :func:`gvetool.nn.decoding.decode` returns them."""
        width = int(self.lengths.max())
        return self.tokens[:, :width].clone(), self.lengths.clone()


def decode_every_step(
    step: Step, state: Any, max_len: int, greedy: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy or sampled sentences with every row stepping all ``max_len`` steps (ended
    rows masked): ``(tokens [B, max_len], lengths [B])``, 0 after a sentence's end.

    No host synchronisation and no shape that depends on the sentences, as a captured
    training step needs: the sentences and draws of :func:`gvetool.nn.decoding.decode` with
    ``compact=False``, whose only difference is to stop once every row has ended.
    """
    fixed = FixedBatchStep(step, state, max_len, greedy)
    for _ in range(max_len):
        fixed()
    return fixed.tokens, fixed.lengths


@contextlib.contextmanager
def without_weight_cache() -> Iterator[None]:
    """Autocast as it is where the block is entered, with its cache of cast weights off: a
    graph must not capture casts that a later replay would skip. The state is read on
    entering, not when this is called, so it may be built before ``--precision``'s
    autocast is entered and still keep it."""
    dtype, enabled = torch.get_autocast_dtype("cuda"), torch.is_autocast_enabled("cuda")
    with torch.autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=False):
        yield


def on_side_stream(work: Callable[[], T], device: torch.device) -> T:
    """``work()`` on a side stream of ``device``, after the current stream's work so far
    and before its next: how CUDA graphs ask the steps before a capture to run."""
    current = torch.cuda.current_stream(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(current)
    with torch.cuda.stream(side):
        result = work()
    current.wait_stream(side)
    return result


class _Graph:
    """A decoding step captured once and replayed per token, both under its tensors'
    device: ``torch.cuda.graph``'s capture stream is made on the current device, so a
    model on ``cuda:1`` in a process whose current device is ``cuda:0`` would otherwise
    record nothing and replay nothing."""

    def __init__(self, step: FixedBatchStep) -> None:
        self.step = step

        def captured() -> None:
            with without_weight_cache():
                step()

        def warm_up() -> None:
            for _ in range(WARMUP_STEPS):
                captured()

        with torch.cuda.device(step.word.device):
            on_side_stream(warm_up, step.word.device)
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: a DataLoader's pin-memory thread, calling CUDA's host allocator
            # meanwhile, must not invalidate the capture (GVE captures mid-epoch)
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                captured()

    def run(self, state: Any) -> tuple[torch.Tensor, torch.Tensor]:
        step = self.step
        step.reset(state)
        with torch.cuda.device(step.word.device):
            for t in range(step.max_len):
                self.graph.replay()
                if (t + 1) % SYNC_EVERY == 0 and not bool(step.running.any()):
                    break
        return step.result()


class DecodingGraphs:
    """A model's captured decoding steps, kept by batch shape, mode, precision and the
    memory its weights live in (at most :data:`MAX_GRAPHS`)."""

    def __init__(self) -> None:
        self._graphs: dict[tuple, _Graph] = {}

    def __len__(self) -> int:
        return len(self._graphs)

    def generate(
        self, step: Step, state: Any, max_len: int, greedy: bool, weights: tuple[int, ...]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The sentences ``step`` decodes from ``state`` on CUDA; ``weights`` identifies
        the memory of the weights the step reads (their ``data_ptr()``s)."""
        key = (
            tuple((t.shape, t.dtype) for t in flatten(state)),
            max_len,
            greedy,
            torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda"),
            weights,
        )
        graph = self._graphs.get(key)
        if graph is None:
            if len(self._graphs) >= MAX_GRAPHS:
                self._graphs.clear()
            graph = self._graphs[key] = _Graph(FixedBatchStep(step, state, max_len, greedy))
        return graph.run(state)
