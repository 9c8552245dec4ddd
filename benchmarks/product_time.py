"""Where a CPU step's time goes: its matrix products, by kind, against the floors.

A floor prices every product at the rate of a 4096-square product. Whether a step can
come near it depends on two things this module measures from one step run under
``torch.profiler`` (shapes recorded): how long the products themselves take, and how
long everything else (activations, dropout masks, copies, Adam, Python) takes.

Products are split by their rows: a *step-by-step* product multiplies at most a batch's
rows (one decoding or recurrence step, which must wait for the step before it), a
*batched* one more (every token of a pass at once, the output layer's 512-token chunks).
The split says which part of the gap no reordering of the same products can close: a
step-by-step product reads a whole 16 MB weight matrix for a few dozen rows.

CPU only: on CUDA the profiler's host times say when kernels were launched, not how long
they ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from torch.profiler import ProfilerActivity, profile

# aten operators that are one matrix product each, and where their two factors sit
# among the operator's inputs (addmm: bias, mat1, mat2; addmm_: self, mat1, mat2)
FACTORS = {"aten::mm": (0, 1), "aten::addmm": (1, 2), "aten::addmm_": (1, 2)}


@dataclass(frozen=True)
class ProductTime:
    """Seconds and FLOPs of one kind of product in one step."""

    seconds: float
    flops: float

    def rate(self) -> float:
        """GFLOP/s."""
        return self.flops / self.seconds / 1e9 if self.seconds else 0.0


@dataclass(frozen=True)
class StepTime:
    """One profiled step: its products (step-by-step and batched) and its wall time."""

    stepwise: ProductTime
    batched: ProductTime
    total_seconds: float

    @property
    def products_seconds(self) -> float:
        return self.stepwise.seconds + self.batched.seconds

    @property
    def other_seconds(self) -> float:
        """Everything but the products: other operators, and Python between them."""
        return self.total_seconds - self.products_seconds


def profile_step(step: Callable[[], object], batch_rows: int) -> StepTime:
    """Run ``step`` once under the profiler; products of at most ``batch_rows`` rows are
    step-by-step. A product's seconds are its operator's own time (the profiler's
    ``self``: a product inside ``nn.LSTM`` counts as a product, once); the step's are its
    wall-clock time, the profiler's small cost per operator included."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as recorded:
        start = time.perf_counter()
        step()
        wall = time.perf_counter() - start
    sums = {True: [0.0, 0.0], False: [0.0, 0.0]}
    for event in recorded.events():
        seconds = event.self_cpu_time_total / 1e6
        factors = FACTORS.get(event.name)
        if factors is None:
            continue
        first, second = (event.input_shapes[i] for i in factors)
        rows, inner, columns = first[0], first[1], second[1]
        entry = sums[rows <= batch_rows]
        entry[0] += seconds
        entry[1] += 2.0 * rows * inner * columns
    stepwise, batched = (ProductTime(*sums[kind]) for kind in (True, False))
    return StepTime(stepwise, batched, wall)


def describe(step: StepTime, peak: float, minimal_flops: float) -> list[str]:
    """Lines for the benchmark's output; ``peak`` in FLOP/s, the minimal set in FLOPs.

    The floor is priced twice: at ``peak`` (a 4096-square product measured just before)
    and at the rate the step's own batched products ran at. The second is measured in
    the same seconds as the step, so a shared host's drift, which can move the first
    by a third between two measurements, does not move it.
    """
    in_step = step.batched.rate() * 1e9
    lines = [
        f"one gvetool step under the profiler: {step.total_seconds:.3f} s; its matrix "
        f"products {step.products_seconds:.3f} s, everything else {step.other_seconds:.3f} s"
    ]
    for name, part in (("step-by-step", step.stepwise), ("batched", step.batched)):
        lines.append(
            f"  {name:12s} products: {part.flops / 1e9:6.0f} GFLOP in {part.seconds:.3f} s, "
            f"{part.rate():4.0f} GFLOP/s"
        )
    for label, rate in (("the 4096-square product's", peak), ("the batched products'", in_step)):
        floor = minimal_flops / rate
        lines.append(
            f"  at {label} rate ({rate / 1e9:.0f} GFLOP/s) the minimal floor is {floor:.3f} s: "
            f"products alone {step.products_seconds / floor:.2f}x it, the whole step "
            f"{step.total_seconds / floor:.2f}x"
        )
    return lines
