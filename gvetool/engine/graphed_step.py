"""A whole training step (forward, backward, optimizer) captured as a CUDA graph and replayed.

At GVE's sizes on a GPU a step is thousands of small kernels, and the host waits for the
device several times in each (lengths read back to pack sentences, token counts, logged
floats): Python launching kernels and the host waiting, not arithmetic, set its time.
Here a model's ``fixed_shape_loss`` (every shape fixed by the batch's tensors, every
number left on the device, logs included), its backward pass and the optimizer's
device-side update (:meth:`gvetool.engine.adam.Adam.device_step`) run over fixed buffers:
a step that a CUDA graph captures once and replays per batch, one launch.

* **Shapes.** Captions are padded to one width (the training set's longest), so every
  full batch has one shape; the last, smaller batch of an epoch has its own graph. A
  shape's first :data:`WARMUP_STEPS` steps run eagerly (real training steps: a graph
  needs the libraries' lazy set-up done before capture), the next is captured and
  every later one replayed.
* **Non-finite steps.** The host no longer looks at each step's loss, so the captured
  step checks it and the gradients on the device and skips the whole update where
  anything is not finite: nothing non-finite is ever applied. The trainer reads the
  flags with the logs, every :data:`LOG_EVERY` steps, and stops there as before.
* **Random numbers.** Dropout and sampling draw from the default CUDA generator, which
  a graph advances on every replay.

Without ``capture`` (a CPU, or checking) the same step runs eagerly: that is how the CPU
tests check it, against the trainer's step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from gvetool.engine.adam import Adam
from gvetool.kernel.batch import CaptionBatch
from gvetool.nn.graphed_decoding import on_side_stream, without_weight_cache

WARMUP_STEPS = 2  # eager steps of a shape before its capture
LOG_EVERY = 25  # steps between the trainer's reads of a captured step's logs and flags
MAX_GRAPHS = 4  # shapes kept: full batches and the last of an epoch, with room to spare


@dataclass
class StepOutput:
    """What one step leaves on the device: its logs, and whether its update was skipped."""

    logs: dict[str, torch.Tensor]
    skipped: torch.Tensor


class _Buffers:
    """A batch's fixed buffers: the step reads them, each new batch is copied in."""

    def __init__(self, batch: CaptionBatch, width: int) -> None:
        self.batch = CaptionBatch(
            features=torch.empty_like(batch.features),
            tokens=batch.tokens.new_zeros(len(batch.tokens), width),
            lengths=torch.empty_like(batch.lengths),
            class_ids=torch.empty_like(batch.class_ids),
            image_index=torch.empty_like(batch.image_index),
        )
        self.mean_over = batch.features.new_zeros(())  # the weights' dtype, as the loss's

    def load(self, batch: CaptionBatch) -> None:
        """Copy ``batch`` in (asynchronously); its tokens padded with 0 to the width."""
        for field in fields(CaptionBatch):
            if field.name in ("ce_tokens", "tokens"):
                continue
            getattr(self.batch, field.name).copy_(getattr(batch, field.name), non_blocking=True)
        tokens = self.batch.tokens
        tokens[:, batch.tokens.shape[1] :].zero_()
        tokens[:, : batch.tokens.shape[1]].copy_(batch.tokens, non_blocking=True)
        self.mean_over.fill_(batch.mean_over())


class _Shape:
    """One batch shape's buffers, eager steps so far, and its graph once captured."""

    def __init__(self, batch: CaptionBatch, width: int) -> None:
        self.buffers = _Buffers(batch, width)
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.output: StepOutput | None = None


class GraphedStep:
    """Training steps of ``model.fixed_shape_loss``, captured per batch shape on CUDA.

    ``width``: the token width every batch is padded to (at least the longest caption).
    ``forward_context``: what the forward pass runs in (``--precision``'s autocast).
    ``capture``: replay CUDA graphs (else every step runs eagerly, over the same buffers).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Adam,
        width: int,
        forward_context: Callable[[], contextlib.AbstractContextManager[Any]],
        grad_clip: float = 0.0,
        capture: bool = True,
    ) -> None:
        self.model, self.optimizer, self.width = model, optimizer, width
        self.forward_context, self.grad_clip, self.capture = forward_context, grad_clip, capture
        self._shapes: dict[tuple[int, ...], _Shape] = {}
        self._skips: list[torch.Tensor] = []  # each step's flag since skipped_steps()

    def skipped_steps(self) -> list[bool]:
        """Whether each step since the last call skipped its update (a non-finite loss or
        gradient), oldest first: the host waits for the device here, and only here."""
        flags = torch.stack(self._skips).tolist() if self._skips else []
        self._skips.clear()
        return flags

    def forget(self) -> None:
        """Drop every captured step: what the model computes changed (an epoch's start may
        switch GVE's reward dropout, which a graph would keep as it was captured)."""
        self._shapes.clear()

    def __call__(self, batch: CaptionBatch) -> StepOutput:
        """One optimizer step on ``batch``; its logs and skip flag stay on the device and
        are overwritten by the next step of the same shape (copy them before then)."""
        if batch.tokens.shape[1] > self.width:
            raise ValueError(
                f"a batch {batch.tokens.shape[1]} tokens wide; the step pads to {self.width}"
            )
        self.model.train()  # as captured (a replay runs no Python: the flag is for readers)
        key = tuple(batch.features.shape)
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= MAX_GRAPHS:
                self._shapes.clear()
            shape = self._shapes[key] = _Shape(batch, self.width)
        shape.buffers.load(batch)
        output = self._run(shape)
        self._skips.append(output.skipped.clone())
        return output

    def _run(self, shape: _Shape) -> StepOutput:
        """The step over ``shape``'s buffers: eager, warming up, captured or replayed."""
        if not self.capture:
            return self._step(shape.buffers)
        # streams and capture on the batch's GPU, whichever is the process's current one
        with torch.cuda.device(shape.buffers.batch.features.device):
            if shape.graph is None and shape.eager_steps < WARMUP_STEPS:
                shape.eager_steps += 1
                return self._warm_up(shape.buffers)
            if shape.graph is None:
                shape.graph, shape.output = self._captured(shape.buffers)
            shape.graph.replay()
        assert shape.output is not None
        return shape.output

    def _step(self, buffers: _Buffers, capturing: bool = False) -> StepOutput:
        """The step itself, as captured: loss, backward, checks, clipping, update."""
        model = self.model
        self.optimizer.zero_grad(set_to_none=True)
        cache = without_weight_cache() if capturing else contextlib.nullcontext()
        with self.forward_context(), cache:
            loss, logs = model.fixed_shape_loss(buffers.batch, buffers.mean_over)
        loss.backward()
        params = [p for p in model.parameters() if p.grad is not None]
        finite = torch.stack([torch.isfinite(p.grad).all() for p in params]).all()
        skipped = ~(finite & torch.isfinite(loss.detach()))
        if self.grad_clip:
            nn.utils.clip_grad_norm_(params, self.grad_clip, foreach=True)
        self.optimizer.device_step(skipped)
        return StepOutput(logs, skipped)

    def _warm_up(self, buffers: _Buffers) -> StepOutput:
        """An eager step on a side stream, as CUDA graphs ask of the steps before capture."""
        return on_side_stream(lambda: self._step(buffers), buffers.batch.features.device)

    def _captured(self, buffers: _Buffers) -> tuple[torch.cuda.CUDAGraph, StepOutput]:
        """The step captured (not run) over ``buffers``, its gradients allocated in the
        graph's own memory."""
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        # thread_local: a DataLoader's pin-memory thread must not invalidate the capture
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            output = self._step(buffers, capturing=True)
        return graph, output
