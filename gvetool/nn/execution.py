"""Which implementation of the same maths runs where: one policy, asked by the models.

Two choices depend on the device, never on the model:

* **the recurrence** of a teacher-forced pass. On a CPU, gvetool's packed loop with its
  hand-written backward (:mod:`gvetool.nn.lstm`) is the fastest measured; on CUDA a
  Python loop over time steps launches several small kernels per token and loses to
  cuDNN's fused LSTM, reached through ``torch.lstm`` (the function ``nn.LSTM`` calls).
* **sampling**. On a CPU, sentences that have ended are dropped from the batch at every
  step (less work; checking which ended is free). On CUDA that check is a host
  synchronisation per token, and fewer rows hardly make a step cheaper, so the whole batch
  keeps stepping (ended rows masked) and the host looks only every ``SYNC_EVERY`` steps;
  that step is captured once as a CUDA graph and replayed per token
  (:mod:`gvetool.nn.graphed_decoding`), one launch instead of some thirty.

And how GVE's REINFORCE gradient is formed. On a CPU it is backpropagated through the
compact sampling pass's own activations, kept as it samples (no second forward pass;
measured 1.3x faster a step at trained lengths than re-scoring,
``benchmarks/train_step.py``, at about 70 MB more peak memory at CUB size). On CUDA the
samples are re-scored in one teacher-forced pass (the fixed-batch sampling keeps no
compact activations). What is kept is bounded: a pass whose samples average more than
``kept_length`` tokens (an untrained model's, in the first steps of a run) drops it and
re-scores in groups, since at 50 tokens a sentence the kept activations of the original's
sizes (300 MB) would outweigh the memory re-scoring needs. A model given
``reinforce_tokens`` re-scores instead, in groups of at most that many tokens, each a pass
of its own: the bound on memory for an untrained model's 50-token samples (1024 on a CPU
when re-scoring is forced without one); on a GPU each extra pass costs a whole sequence's
latency while memory is plentiful, so there all rows go in one pass.

And whether ``--cuda-graph``'s fixed-shape training step is captured as a CUDA graph and
replayed (CUDA) or, where no GPU can capture it, run eagerly over the same buffers (what
the CPU tests check it with; :mod:`gvetool.engine.graphed_step`).

Both pairs compute the same numbers within float tolerance (``tests/test_execution.py``
runs each pair on the CPU); :func:`forced` lets tests and benchmarks pick one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

SYNC_EVERY = 8  # fixed-batch sampling: steps between checks that every sentence ended


@dataclass(frozen=True)
class Execution:
    fused_recurrence: bool
    compact_sampling: bool
    graphed_decoding: bool = False  # only with fixed-batch (not compact) sampling on CUDA
    rescoring_tokens: int = 1024  # GVE's reinforce_tokens when unset; 0: all rows at once
    # GVE's REINFORCE backpropagated through the compact sampling pass's own activations
    # instead of re-scoring the samples in a teacher-forced pass (with fixed-batch sampling
    # it is not used; an explicit reinforce_tokens asks for re-scoring in groups)
    reinforce_through_sampling: bool = False
    # ... while the samples average at most this many tokens; a longer pass (an untrained
    # model's rambling samples) drops what it kept and is re-scored in groups instead
    kept_length: int = 24
    # Adam's update over all parameters at once (``torch._foreach_*``: few launches, and
    # temporaries the size of all parameters, which a CPU run's memory budget has not)
    foreach_adam: bool = False
    # --cuda-graph's whole training step captured as a CUDA graph and replayed (else the
    # same fixed-shape step runs eagerly: what the CPU tests check)
    captured_steps: bool = False


_forced: ContextVar[Execution | None] = ContextVar("gvetool_execution", default=None)


def execution_for(device: torch.device) -> Execution:
    """The implementations used on ``device`` (unless :func:`forced` says otherwise)."""
    chosen = _forced.get()
    if chosen is not None:
        return chosen
    cuda = device.type == "cuda"
    return Execution(
        fused_recurrence=cuda,
        compact_sampling=not cuda,
        graphed_decoding=cuda,
        rescoring_tokens=0 if cuda else 1024,
        reinforce_through_sampling=not cuda,
        foreach_adam=cuda,
        captured_steps=cuda,
    )


@contextmanager
def forced(
    fused_recurrence: bool,
    compact_sampling: bool,
    graphed_decoding: bool = False,
    rescoring_tokens: int = 1024,
    reinforce_through_sampling: bool = False,
    kept_length: int = 24,
    foreach_adam: bool = False,
    captured_steps: bool = False,
) -> Iterator[None]:
    """Use these implementations whatever the device, inside the ``with`` block."""
    chosen = Execution(
        fused_recurrence,
        compact_sampling,
        graphed_decoding,
        rescoring_tokens,
        reinforce_through_sampling,
        kept_length,
        foreach_adam,
        captured_steps,
    )
    token = _forced.set(chosen)
    try:
        yield
    finally:
        _forced.reset(token)


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype matrix products run in here: autocast's when it is on, else the tensor's.

    Hand-written recurrences (in-place updates, ``torch.lstm``) are outside autocast's
    reach, so they cast their inputs and weights to this dtype themselves.
    """
    kind = tensor.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return tensor.dtype


def weight_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of a model's floating-point weights: what its input features are cast to
    (float64 under ``--precision fp64``, else float32)."""
    for param in model.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32
