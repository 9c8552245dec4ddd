"""GVE training step: the original's formulation vs gvetool's, at CUB size, with its floors.

Run on demand (not in CI):
    python benchmarks/train_step.py [--steps 5] [--device cpu|cuda]
                                    [--precision fp32|bf16|tf32] [--untrained] [--no-original]
                                    [--cuda-graph] [--table FILE]

``--precision`` applies to both sides as gvetool's trainer applies it: ``fp32`` is float32
on CUDA too (cuDNN's TF32, on by PyTorch's default, is switched off), ``tf32`` turns
TF32 on for cuBLAS and cuDNN (CUDA only).

(a) the original: ``nn.LSTM`` teacher forcing over a padded-then-packed batch, REINFORCE
    by sampling through the modules with the graph kept, the host checking after every
    token whether all sentences ended (``benchmarks/original_gve.py``).
(b) gvetool: the trainer's step (``loss_terms`` + ``backward_terms`` + its Adam), with
    whatever :mod:`gvetool.nn.execution` picks for the device.
(c) with ``--cuda-graph``: gvetool's whole step captured as a CUDA graph and replayed
    (:mod:`gvetool.engine.graphed_step`; on a CPU the same fixed-shape step runs eagerly),
    timed after its warm-up steps and capture.

``--table FILE`` appends the figures as one row of a Markdown table (the card, the
precision, the lengths, each side's seconds per step and the speed-ups).

Both take the same batches and start from the same weights; the optimizer's learning
rate is tiny so the model stays as it is. Sizes: 8192-d features, embedding/hidden 1000,
batch 128, 200 classes, 4000 words. Caption lengths (end token included) follow
``CAPTION_LENGTHS``, right-skewed with mean 15 and standard deviation 5. By default the
sampled sentences follow the same distribution, as a trained model's do (the fixture
:class:`SentenceLengths` sets the end token's probability per step); so the original,
which steps the whole batch until its longest sample ends, runs to the longest of 128
draws (about 30 tokens), not to the cap. ``--untrained`` leaves the model's own
end-token probability (1 in 4,000): samples run to the 50-token cap, as in the first
steps of training.

Then a breakdown of gvetool's step, each part timed alone (synchronised on CUDA), and two
arithmetic floors: the step's matrix products at the rate of a large matrix product
measured just before that step (a shared machine's speed drifts from minute to minute),
for the *minimal* set of products (teacher-forced pass and its backward, sampling with
ended rows dropped, the classifier's reward, REINFORCE's backward through the sampling
pass) and for the set gvetool's formulation computes; each ratio is the mean of the
steps' own, with their range. On a CPU in fp32, last, one more step under the profiler
(:mod:`product_time`): how long its matrix products took against the minimal floor,
step-by-step products (at most a batch's rows, each waiting for the step before) apart
from batched ones, and how long everything else took.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from original_gve import OriginalGVE
from product_time import describe, profile_step

from gvetool.builtins.models.gve import GVE
from gvetool.builtins.models.sentence_classifier import SentenceClassifier
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.graphed_step import WARMUP_STEPS, GraphedStep
from gvetool.engine.precision import autocast, cuda_products
from gvetool.engine.steps import LossModule, backward_terms
from gvetool.kernel.batch import CaptionBatch
from gvetool.nn.execution import Execution, execution_for, forced

FEATURES, HIDDEN, BATCH, CLASSES, VOCAB, MAX_LEN = 8192, 1000, 128, 200, 4000, 50


def _caption_lengths() -> torch.Tensor:
    """P(length = l) for l = 1..MAX_LEN (end token included): 7 + a negative binomial
    (4 successes, mean 8), so mean 15, standard deviation 5, a right tail; cut at the cap."""
    successes, mean = 4, 8.0
    p = successes / (successes + mean)
    pmf = torch.zeros(MAX_LEN + 1, dtype=torch.float64)
    for extra in range(MAX_LEN - 7 + 1):
        log = (
            math.lgamma(extra + successes)
            - math.lgamma(extra + 1)
            - math.lgamma(successes)
            + successes * math.log(p)
            + extra * math.log(1 - p)
        )
        pmf[7 + extra] = math.exp(log)
    return pmf / pmf.sum()


CAPTION_LENGTHS = _caption_lengths()


class SentenceLengths(nn.Linear):
    """The output layer of a model whose samples have the captions' lengths (a fixture).

    At decoding step ``t`` the end token's logit of every running row is set so that
    ``p(end) = P(L = t + 1 | L > t)`` under ``CAPTION_LENGTHS``: whatever the other
    logits, sampled lengths then follow that distribution, independently per row, as a
    trained captioner's roughly do. A call with more rows than a batch is a teacher-forced
    pass over every token, and left alone. The step counter lives on the device and is
    advanced in place, so that a CUDA graph of the decoding step advances it too;
    :func:`restart_lengths` resets it before each training step.
    """

    def __init__(self, linear: nn.Linear, batch: int) -> None:
        super().__init__(linear.in_features, linear.out_features, device=linear.weight.device)
        self.load_state_dict(linear.state_dict())
        survive = CAPTION_LENGTHS.flip(0).cumsum(0).flip(0)  # P(L >= l)
        hazard = (CAPTION_LENGTHS[1:] / survive[1:].clamp(min=1e-300)).clamp(1e-12, 1 - 1e-12)
        self.register_buffer(
            "log_odds", (hazard / (1 - hazard)).log().float().to(linear.weight.device)
        )
        device = linear.weight.device
        self.register_buffer("step", torch.zeros((), dtype=torch.long, device=device))
        # on the device beforehand: no host-to-device copy while a CUDA graph is captured
        self.register_buffer("end", torch.tensor([Vocabulary.end_id], device=device))
        self.batch = batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = super().forward(x)
        if len(x) > self.batch:
            return logits
        others = logits.detach().index_fill(1, self.end, float("-inf")).logsumexp(1, keepdim=True)
        # index_select with a 1-element index, never a 0-dim tensor as an index, which
        # PyTorch reads on the host (.item()): that raises inside a captured graph
        odds = self.log_odds.index_select(0, self.step.clamp(max=len(self.log_odds) - 1).view(1))
        self.step += 1
        return logits.index_copy(1, self.end, (others + odds).to(logits.dtype))


def restart_lengths(model: nn.Module) -> None:
    """A new training step: :class:`SentenceLengths` counts decoding steps from 0."""
    for module in model.modules():
        if isinstance(module, SentenceLengths):
            module.step.zero_()


def make_batches(count: int, device: torch.device) -> list[CaptionBatch]:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for index in range(count):
        lengths = torch.multinomial(
            CAPTION_LENGTHS.float(), BATCH, replacement=True, generator=generator
        )
        tokens = torch.randint(4, VOCAB, (BATCH, int(lengths.max())), generator=generator)
        tokens[torch.arange(tokens.shape[1])[None, :] >= lengths[:, None]] = 0
        tokens[torch.arange(BATCH), lengths - 1] = Vocabulary.end_id
        classes = torch.randint(0, CLASSES, (BATCH,), generator=generator)
        features = torch.rand(BATCH, FEATURES, generator=generator)
        batch = CaptionBatch(features, tokens, lengths, classes, torch.arange(BATCH) + index)
        batches.append(batch.to(device))
    return batches


def _plain_model(device: torch.device, reinforce_tokens: int | None) -> GVE:
    torch.manual_seed(0)
    model = GVE(
        VOCAB,
        FEATURES,
        CLASSES,
        HIDDEN,
        HIDDEN,
        dropout=0.5,
        max_len=MAX_LEN,
        reinforce_tokens=reinforce_tokens,
    )
    classifier = SentenceClassifier(VOCAB, CLASSES, HIDDEN, HIDDEN)
    model.attach_sentence_classifier(classifier.to(device))
    return model.to(device).train()


def make_model(device: torch.device, untrained: bool, reinforce_tokens: int | None) -> GVE:
    """gvetool's GVE at CUB size; unless ``untrained``, its samples have trained lengths."""
    model = _plain_model(device, reinforce_tokens)
    if not untrained:
        model.out = SentenceLengths(model.out, BATCH)
    return model


def make_original(device: torch.device, untrained: bool) -> OriginalGVE:
    """The original's formulation from the same weights (and the same sentence lengths)."""
    original = OriginalGVE(_plain_model(device, None)).to(device).train()
    if not untrained:
        original.linear2 = SentenceLengths(original.linear2, BATCH)
    return original


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sampled_lengths(model: GVE) -> list[torch.Tensor]:
    """Every batch of samples ``model``'s reward scores, as their lengths (a probe)."""
    seen: list[torch.Tensor] = []
    reward = model.reward

    def recording(
        tokens: torch.Tensor, lengths: torch.Tensor, class_ids: torch.Tensor, **options: bool
    ):
        if not options.get("fixed_shape"):  # a captured step reads nothing back
            seen.append(lengths.detach().cpu())
        return reward(tokens, lengths, class_ids, **options)

    model.reward = recording  # type: ignore[method-assign]
    return seen


def original_step(model: OriginalGVE, batch: CaptionBatch, precision: str) -> None:
    with autocast(precision, batch.features.device):
        loss, _ = model.step_loss(batch)
    loss.backward()


def gvetool_step(model: GVE, batch: CaptionBatch, precision: str) -> None:
    context = lambda: autocast(precision, batch.features.device)  # noqa: E731
    with context():
        terms = model.loss_terms(batch)  # what the trainer does: sample once, then term by term
    backward_terms(LossModule(model), batch, terms, context)


def timed(
    step: Callable,
    model: nn.Module,
    reward_model: GVE,
    batches: list[CaptionBatch],
    precision: str,
) -> tuple[list[float], list[torch.Tensor], list[float]]:
    """Seconds of each step after the first (a warm-up), each step's sampled lengths, and
    the matmul rate (GFLOP/s) measured just before each: a shared machine's speed drifts
    from minute to minute, and a floor at one rate measured once would drift with it."""
    device = batches[0].features.device
    optimizer = Adam(model.parameters(), lr=1e-9)
    lengths = sampled_lengths(reward_model)
    seconds, rates = [], []
    for index, batch in enumerate(batches):
        if index:
            rates.append(matmul_gflops(device, repeats=2))
        torch.manual_seed(index)
        restart_lengths(model)
        synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        step(model, batch, precision)
        optimizer.step()
        synchronize(device)
        if index:
            seconds.append(time.perf_counter() - start)
    return seconds, lengths[1:], rates


def timed_graphed(model: GVE, batches: list[CaptionBatch], precision: str) -> list[float]:
    """Seconds of each step of the captured whole step, after its warm-up steps and the
    capture (the first ``WARMUP_STEPS + 1`` batches)."""
    device = batches[0].features.device
    width = max(batch.tokens.shape[1] for batch in batches)
    context = lambda: autocast(precision, device)  # noqa: E731
    capture = execution_for(device).captured_steps
    step = GraphedStep(model, Adam(model.parameters(), lr=1e-9), width, context, capture=capture)
    seconds = []
    for index, batch in enumerate(batches):
        torch.manual_seed(index)
        restart_lengths(model)
        synchronize(device)
        start = time.perf_counter()
        step(batch)
        synchronize(device)
        if index > WARMUP_STEPS:
            seconds.append(time.perf_counter() - start)
    if any(step.skipped_steps()):
        raise SystemExit("a captured step was skipped: its loss or gradients were not finite")
    return seconds


def _captured_or_why(args: argparse.Namespace, device: torch.device) -> list[float]:
    """The captured step's seconds, or none, with the error printed: on a GPU lent for a
    few minutes, a capture that fails should cost its own row, not the run's others."""
    warmed = make_batches(args.steps + WARMUP_STEPS + 1, device)
    try:
        return timed_graphed(
            make_model(device, args.untrained, args.reinforce_tokens), warmed, args.precision
        )
    except (RuntimeError, SystemExit) as error:
        print(f"(c) the captured step failed: {type(error).__name__}: {error}")
        return []


def matmul_gflops(device: torch.device, n: int = 4096, repeats: int = 5) -> float:
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return repeats * 2 * n**3 / (time.perf_counter() - start) / 1e9


def _lstm_flops(inputs: int, tokens: int) -> float:
    return 2 * 4 * HIDDEN * (inputs + HIDDEN) * tokens


def weight_stream_rate(device: torch.device) -> float:
    """Bytes/s at which a product of a few rows reads its weights: ``[4, H] x [H, 4H]``
    cycling through five 16 MB matrices, as a decoding step's products do."""
    weights = [torch.rand(HIDDEN, 4 * HIDDEN, device=device) for _ in range(5)]
    rows = torch.rand(4, HIDDEN, device=device)
    for weight in weights:
        rows @ weight
    synchronize(device)
    start = time.perf_counter()
    for _ in range(10):
        for weight in weights:
            rows @ weight
    synchronize(device)
    return 10 * 5 * weights[0].numel() * 4 / (time.perf_counter() - start)


def _per_step(
    lengths: torch.Tensor, matrices: int, peak: float, stream: float
) -> tuple[float, float]:
    """FLOPs and roofline seconds of products made step by step over the rows still
    running, each reading ``matrices`` weights of ``4H x H``: a step costs the slower of
    its arithmetic at ``peak`` FLOP/s and reading those weights at ``stream`` bytes/s."""
    flops = seconds = 0.0
    for t in range(int(lengths.max())):
        step = 2 * int((lengths > t).sum()) * 4 * HIDDEN * HIDDEN * matrices
        flops += step
        seconds += max(step / peak, matrices * 4 * HIDDEN * HIDDEN * 4 / stream)
    return flops, seconds


@dataclass(frozen=True)
class Floors:
    """A step's matrix products: the minimal set's FLOPs, the set gvetool computes, and
    the minimal set's roofline seconds."""

    minimal: float
    gvetool: float
    roofline: float

    @classmethod
    def of(
        cls,
        target: torch.Tensor,
        sampled: torch.Tensor,
        through_sampling: bool,
        peak: float,
        stream: float,
    ) -> Floors:
        """Teacher forcing reads ``[image, one-hot, h1]`` (dropout masks it per token);
        sampling reads ``h1`` with the image and class as a per-sentence gate offset;
        a backward pass is twice its forward's products.

        The roofline: the products that must go step by step — the recurrent ones of
        both LSTMs in the teacher-forced pass, its backward and REINFORCE's backward, the
        classifier's, and every product of a sampling step (both LSTMs' input and
        recurrent weights and the output layer, ``V = 4H`` here) — each at the slower of
        arithmetic and weight traffic; all others, batched over tokens, at ``peak``.
        """
        target_tokens, sampled_tokens = int(target.sum()), int(sampled.sum())
        teacher = (
            _lstm_flops(HIDDEN, target_tokens)
            + _lstm_flops(2 * HIDDEN + CLASSES, target_tokens)
            + 2 * HIDDEN * VOCAB * target_tokens
            + 2 * BATCH * FEATURES * HIDDEN
        )
        conditioning = 2 * BATCH * FEATURES * HIDDEN + 2 * BATCH * HIDDEN * 4 * HIDDEN
        lstms = 2 * _lstm_flops(HIDDEN, sampled_tokens)
        output = 2 * HIDDEN * VOCAB * sampled_tokens
        reward = _lstm_flops(HIDDEN, sampled_tokens)
        common = 3 * teacher + conditioning + lstms + output + reward  # forward of everything
        minimal = common + 2 * (lstms + output + conditioning)  # backward through sampling
        # through sampling, the fused loss recomputes the output layer's softmax;
        # re-scoring runs a second forward through both LSTMs and the output layer
        extra = output if through_sampling else lstms + output + conditioning
        stepwise = [
            _per_step(target, 2 + 2, peak, stream),  # teacher-forced: forward, backward
            _per_step(sampled, 5, peak, stream),  # sampling
            _per_step(sampled, 1, peak, stream),  # the classifier
            _per_step(sampled, 2, peak, stream),  # REINFORCE's backward
        ]
        batched = minimal - sum(flops for flops, _ in stepwise)
        roofline = batched / peak + sum(seconds for _, seconds in stepwise)
        return cls(minimal, minimal + extra, roofline)


def breakdown(model: GVE, batch: CaptionBatch, precision: str) -> list[tuple[str, float]]:
    """Each phase of one gvetool step timed alone: the terms' forward and backward passes."""
    device = batch.features.device
    context = lambda: autocast(precision, device)  # noqa: E731
    optimizer = Adam(model.parameters(), lr=1e-9)
    parts: list[tuple[str, float]] = []

    def clock(name: str, work: Callable[[], object]) -> object:
        synchronize(device)
        start = time.perf_counter()
        result = work()
        synchronize(device)
        parts.append((name, time.perf_counter() - start))
        return result

    restart_lengths(model)
    gvetool_step(model, batch, precision)  # warm up: CUDA graphs captured, kernels loaded,
    optimizer.step()  # Adam's moments allocated
    torch.manual_seed(0)
    restart_lengths(model)
    optimizer.zero_grad(set_to_none=True)
    with context():
        terms = clock("sampling + reward (loss_terms)", lambda: model.loss_terms(batch))
    for term in terms:  # type: ignore[union-attr]
        kept = not isinstance(term, str) and term.kept is not None
        name = term if isinstance(term, str) else f"reinforce ({'kept' if kept else 're-scored'})"
        with context():
            loss, _ = clock(f"{name}: forward", lambda t=term: model.loss(batch, t))  # type: ignore[misc]
        clock(f"{name}: backward", loss.backward)  # type: ignore[union-attr]
    clock("optimizer (Adam)", optimizer.step)
    merged: dict[str, float] = {}
    for name, seconds in parts:
        merged[name] = merged.get(name, 0.0) + seconds
    return list(merged.items())


def product_accounting(
    args: argparse.Namespace, device: torch.device, batch: CaptionBatch, stream: float
) -> list[str]:
    """One step of a fresh model (after a warm-up step) under the profiler: its matrix
    products' time, step-by-step and batched, against the minimal floor of that step's
    own samples at the matmul rate measured just before (:mod:`product_time`)."""
    model = make_model(device, args.untrained, args.reinforce_tokens)
    optimizer = Adam(model.parameters(), lr=1e-9)
    lengths = sampled_lengths(model)

    def step() -> None:
        torch.manual_seed(0)
        restart_lengths(model)
        optimizer.zero_grad(set_to_none=True)
        gvetool_step(model, batch, args.precision)
        optimizer.step()

    step()
    rate = matmul_gflops(device, repeats=2) * 1e9
    measured = profile_step(step, BATCH)
    kept = keeps_activations(execution_for(device), lengths[-1])
    floors = Floors.of(batch.lengths.cpu(), lengths[-1], kept, rate, stream)
    return describe(measured, rate, floors.minimal)


def through_sampling(execution: Execution) -> bool:
    """Whether REINFORCE is backpropagated through the sampling pass on this device."""
    return execution.reinforce_through_sampling and execution.compact_sampling


def keeps_activations(execution: Execution, lengths: torch.Tensor) -> bool:
    """Whether samples of these lengths were backpropagated through (kept), not
    re-scored: samples averaging more than ``kept_length`` tokens are re-scored."""
    limit = execution.kept_length or MAX_LEN
    return through_sampling(execution) and float(lengths.float().mean()) <= limit


def _summary(seconds: list[float]) -> str:
    return (
        f"{statistics.mean(seconds):7.3f} s/step (min {min(seconds):.3f}, "
        f"max {max(seconds):.3f}, {len(seconds)} steps)"
    )


def _ratios(seconds: list[float], floors: list[float]) -> str:
    """Mean and range of each step's time over its own floor."""
    ratios = [step / floor for step, floor in zip(seconds, floors, strict=True)]
    return f"{statistics.mean(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f} per step)"


def _lengths(seen: list[torch.Tensor]) -> str:
    means = statistics.mean(float(x.float().mean()) for x in seen)
    longest = statistics.mean(float(x.max()) for x in seen)
    return f"sampled length {means:.1f} (longest of the batch {longest:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16", "tf32"],
        help="both sides; fp32: float32 on CUDA too (cuDNN's TF32 off), tf32: CUDA's TF32 on",
    )
    parser.add_argument("--untrained", action="store_true", help="samples run to 50 tokens")
    parser.add_argument("--no-original", action="store_true", help="time gvetool only")
    parser.add_argument(
        "--no-graphs",
        action="store_true",
        help="CUDA: launch each decoding kernel instead of replaying a graph",
    )
    parser.add_argument(
        "--reinforce-tokens",
        type=int,
        default=None,
        help="gvetool's reinforce_tokens (0: one REINFORCE pass) [the device's]",
    )
    parser.add_argument(
        "--reinforce",
        choices=["rescoring", "through-sampling"],
        help="CPU: how gvetool computes REINFORCE's gradient [the execution policy's]",
    )
    parser.add_argument(
        "--cuda-graph",
        action="store_true",
        help="also time gvetool's whole step captured as a CUDA graph (--cuda-graph)",
    )
    parser.add_argument("--table", type=Path, help="append the figures to this Markdown table")
    args = parser.parse_args()
    with cuda_products(args.precision):
        _run_as_asked(args)


def _run_as_asked(args: argparse.Namespace) -> None:
    if args.no_graphs:
        with forced(fused_recurrence=True, compact_sampling=False, graphed_decoding=False):
            run(args)
    elif args.reinforce:
        through = args.reinforce == "through-sampling"
        with forced(
            fused_recurrence=False, compact_sampling=True, reinforce_through_sampling=through
        ):
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    gflops = matmul_gflops(device)
    execution = execution_for(device)
    through = through_sampling(execution)
    print(
        f"device {device} ({name}), {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}, precision {args.precision}, "
        f"{'no graphs, ' if args.no_graphs else ''}reinforce_tokens "
        f"{args.reinforce_tokens}, REINFORCE "
        f"{'through sampling' if through else 're-scored'}, "
        f"{'untrained' if args.untrained else 'trained'} lengths, "
        f"matmul {gflops:.0f} GFLOP/s (fp32)"
    )
    batches = make_batches(args.steps + 1, device)
    model = make_model(device, args.untrained, args.reinforce_tokens)
    ours, ours_len, ours_rates = timed(gvetool_step, model, model, batches, args.precision)
    del model
    theirs: list[float] = []
    if not args.no_original:
        original = make_original(device, args.untrained)
        theirs, theirs_len, theirs_rates = timed(
            original_step, original, original.reward_model, batches, args.precision
        )
        print(f"(a) original: {_summary(theirs)}, {_lengths(theirs_len)}")
        del original
    graphed = _captured_or_why(args, device) if args.cuda_graph else []
    # samples averaging more than kept_length tokens were re-scored: their floor says so
    kept = [keeps_activations(execution, lengths) for lengths in ours_len]
    note = "" if all(kept) or not through else " (re-scored: too long to keep)"
    print(f"(b) gvetool:  {_summary(ours)}, {_lengths(ours_len)}{note}")
    stream = weight_stream_rate(device)
    # each step's floors at the rate measured just before it
    floors = [
        Floors.of(batch.lengths.cpu(), lengths, keeps, rate * 1e9, stream)
        for batch, lengths, keeps, rate in zip(batches[1:], ours_len, kept, ours_rates, strict=True)
    ]
    minimal = [f.minimal / rate / 1e9 for f, rate in zip(floors, ours_rates, strict=True)]
    own = [f.gvetool / rate / 1e9 for f, rate in zip(floors, ours_rates, strict=True)]
    roofline = [f.roofline for f in floors]
    minimal_gflop = statistics.mean(f.minimal for f in floors) / 1e9
    own_gflop = statistics.mean(f.gvetool for f in floors) / 1e9
    print(
        f"floors (matrix products at the rate measured before each step, "
        f"{min(ours_rates):.0f}-{max(ours_rates):.0f} GFLOP/s): minimal "
        f"{statistics.mean(minimal):.3f} s ({minimal_gflop:.0f} GFLOP), gvetool's "
        f"formulation {statistics.mean(own):.3f} s ({own_gflop:.0f} GFLOP); "
        f"the minimal set's roofline {statistics.mean(roofline):.3f} s (step-by-step "
        f"products at the slower of that rate and reading their weights at "
        f"{stream / 1e9:.1f} GB/s)"
    )
    print(
        f"gvetool's step / minimal floor: {_ratios(ours, minimal)} (its own floor: "
        f"{_ratios(ours, own)}, the roofline: {_ratios(ours, roofline)})",
        end="",
    )
    if theirs:
        # the original's floors: the same products at the rate measured before its steps
        theirs_minimal = [
            f.minimal / rate / 1e9 for f, rate in zip(floors, theirs_rates, strict=True)
        ]
        ratio = statistics.mean(theirs) / statistics.mean(ours)
        print(
            f"; speed-up (a)/(b): {ratio:.2f}x; the original / minimal floor: "
            f"{_ratios(theirs, theirs_minimal)} (the most any implementation of these "
            f"products could gain here)"
        )
    else:
        print()
    if graphed:
        versus = (
            f"; speed-up (a)/(c): {statistics.mean(theirs) / statistics.mean(graphed):.2f}x"
            if theirs
            else ""
        )
        print(
            f"(c) gvetool, whole step captured: {_summary(graphed)}; (b)/(c): "
            f"{statistics.mean(ours) / statistics.mean(graphed):.2f}x{versus}"
        )
    if args.table:
        _table_row(args, name, theirs, ours, graphed)
    parts = breakdown(
        make_model(device, args.untrained, args.reinforce_tokens), batches[0], args.precision
    )
    total = sum(seconds for _, seconds in parts)
    print("breakdown of one gvetool step:")
    for part, seconds in parts:
        print(f"  {part:38s} {seconds:7.3f} s  {seconds / total:4.0%}")
    if device.type == "cpu" and args.precision == "fp32":
        print("\n".join(product_accounting(args, device, batches[1], stream)))


TABLE_HEADER = (
    "| device | precision | lengths | original s/step | gvetool s/step | gvetool captured "
    "s/step | speed-up | speed-up, captured |\n|---|---|---|---:|---:|---:|---:|---:|\n"
)


def _table_row(
    args: argparse.Namespace,
    device: str,
    theirs: list[float],
    ours: list[float],
    graphed: list[float],
) -> None:
    """One Markdown row of this run's figures, appended to ``args.table`` (with the
    header when the file is new); a figure not measured is left empty."""

    def seconds(values: list[float]) -> str:
        return f"{statistics.mean(values):.4f}" if values else ""

    def ratio(values: list[float]) -> str:
        return (
            f"{statistics.mean(theirs) / statistics.mean(values):.2f}x" if theirs and values else ""
        )

    lengths = "untrained" if args.untrained else "trained"
    row = (
        f"| {device} | {args.precision} | {lengths} | {seconds(theirs)} | {seconds(ours)} | "
        f"{seconds(graphed)} | {ratio(ours)} | {ratio(graphed)} |\n"
    )
    new = not args.table.is_file()
    with open(args.table, "a") as table:
        table.write((TABLE_HEADER if new else "") + row)


if __name__ == "__main__":
    main()
