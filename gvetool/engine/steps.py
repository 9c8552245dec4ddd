"""One training step's machinery: the epoch's batches, fetching them, term-by-term backward."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from gvetool.config.schema import TrainConfig
from gvetool.data.captions import CaptionExamples, whole_batches
from gvetool.engine.distributed import Distributed


class LossModule(nn.Module):
    """Puts ``model.loss`` inside ``forward``, where DistributedDataParallel expects it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, term: Any) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.loss(batch) if term is None else self.model.loss(batch, term)


def backward_terms(
    stepper: nn.Module,
    batch: Any,
    terms: Sequence[Any],
    forward_context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, float]:
    """Backpropagate the loss of ``batch`` one term at a time; returns the step's logs.

    A model whose loss is a sum of terms lists them with ``loss_terms(batch)`` (GVE:
    cross-entropy, then REINFORCE in groups of rows) and computes each with
    ``loss(batch, term)``. Each term's graph is freed by its own backward pass before the
    next term is built, so a step needs the memory of its largest term instead of their
    sum; the gradient is the same (the gradient of a sum is the sum of the gradients,
    which ``backward`` accumulates). Under DistributedDataParallel the accumulated
    gradients are averaged once, with the last term. ``logs["loss"]`` is the terms' sum.
    Each term's forward pass runs inside ``forward_context()`` (``--precision``'s
    autocast), its backward pass outside, as autocast asks.
    """
    logs: dict[str, float] = {"loss": 0.0}
    for index, term in enumerate(terms):
        last = index == len(terms) - 1
        defer_sync = isinstance(stepper, DistributedDataParallel) and not last
        with stepper.no_sync() if defer_sync else contextlib.nullcontext():
            with forward_context():
                loss, term_logs = stepper(batch, term)
            loss.backward()
        logs["loss"] += float(loss.detach())
        logs.update((key, value) for key, value in term_logs.items() if key != "loss")
    return logs


def epoch_batches(
    count: int, batch_size: int, seed: int, epoch: int, world: int
) -> list[np.ndarray]:
    """The global batches of one epoch: a permutation fixed by ``(seed, epoch)``.

    The last, smaller batch is trimmed to a multiple of ``world`` so that every process
    gets an equal slice (equal slices keep N-process training equal to 1-process).
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(count, generator=generator).numpy()
    full = count // batch_size
    out = [order[i * batch_size : (i + 1) * batch_size] for i in range(full)]
    rest = order[full * batch_size :]
    rest = rest[: len(rest) - len(rest) % world]
    return [*out, rest] if len(rest) else out


def batches_of(
    train_set: CaptionExamples,
    batches: list[np.ndarray],
    config: TrainConfig,
    dist: Distributed,
    pin: bool,
) -> Any:
    """This process's slices of ``batches``, fetched by worker processes if asked for.

    ``pin`` (training on CUDA) puts each batch in page-locked memory, so that its copy to
    the GPU runs asynchronously (``non_blocking``) instead of through a staging buffer.
    """
    mine = [batch[dist.rank :: dist.world] for batch in batches]
    if not config.num_workers:
        if pin:
            return (train_set.__getitems__(indices).pin_memory() for indices in mine)
        return (train_set.__getitems__(indices) for indices in mine)
    # Its own generator: a DataLoader with workers otherwise draws its seed from the
    # global RNG, which would shift every later dropout mask and break exact resume.
    loader = DataLoader(
        train_set,
        batch_sampler=mine,
        collate_fn=whole_batches,
        num_workers=config.num_workers,
        pin_memory=pin,
        generator=torch.Generator(),
    )
    return iter(loader)
