"""GVE training step: the original's formulation vs gvetool's, at CUB size, with a breakdown.

Run on demand (not in CI):
    python benchmarks/train_step.py [--steps 5] [--device cpu|cuda] [--precision fp32|bf16]
                                    [--untrained] [--no-original]

(a) the original: ``nn.LSTM`` teacher forcing over a padded-then-packed batch, REINFORCE
    by sampling through the modules with the graph kept, the host checking after every
    token whether all sentences ended (``benchmarks/original_gve.py``).
(b) gvetool: the trainer's step (``loss_terms`` + ``backward_terms`` + its Adam), with
    whatever :mod:`gvetool.models.execution` picks for the device.

Both take the same batches and start from the same weights; the optimizer's learning
rate is tiny so sampled lengths stay as set. Sizes: 8192-d features, embedding/hidden
1000, batch 128, 200 classes, 4000 words, ~14-token captions. By default the end token's
bias makes samples ~14 tokens long, a trained model's length; ``--untrained`` leaves it,
so samples run to the 50-token cap as in the first steps of training.

Then a breakdown of gvetool's step, each part timed alone (synchronised on CUDA), in
seconds and GFLOP/s next to a large matrix product measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from original_gve import OriginalGVE

from gvetool.data.captions import CaptionBatch
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.precision import autocast
from gvetool.engine.steps import LossModule, backward_terms
from gvetool.models.execution import forced
from gvetool.models.gve import GVE, ReinforcePart
from gvetool.models.sentence_classifier import SentenceClassifier

FEATURES, HIDDEN, BATCH, CLASSES, VOCAB, CAPTION_LEN, MAX_LEN = 8192, 1000, 128, 200, 4000, 14, 50


def make_batches(count: int, device: torch.device) -> list[CaptionBatch]:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for index in range(count):
        lengths = torch.randint(CAPTION_LEN - 4, CAPTION_LEN + 5, (BATCH,), generator=generator)
        tokens = torch.randint(4, VOCAB, (BATCH, int(lengths.max())), generator=generator)
        tokens[torch.arange(tokens.shape[1])[None, :] >= lengths[:, None]] = 0
        tokens[torch.arange(BATCH), lengths - 1] = Vocabulary.end_id
        classes = torch.randint(0, CLASSES, (BATCH,), generator=generator)
        features = torch.rand(BATCH, FEATURES, generator=generator)
        batch = CaptionBatch(features, tokens, lengths, classes, torch.arange(BATCH) + index)
        batches.append(batch.to(device))
    return batches


def make_model(device: torch.device, untrained: bool, reinforce_tokens: int | None) -> GVE:
    torch.manual_seed(0)
    model = GVE(VOCAB, FEATURES, CLASSES, HIDDEN, HIDDEN, dropout=0.5, max_len=MAX_LEN,
                reinforce_tokens=reinforce_tokens)  # fmt: skip
    if not untrained:  # p(end) ~ 1/14 per step: sampled sentences of trained length
        with torch.no_grad():
            model.out.bias[Vocabulary.end_id] = math.log((VOCAB - 1) / (CAPTION_LEN - 1))
    classifier = SentenceClassifier(VOCAB, CLASSES, HIDDEN, HIDDEN)
    model.attach_sentence_classifier(classifier.to(device))
    return model.to(device).train()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def original_step(model: OriginalGVE, batch: CaptionBatch, precision: str) -> float:
    with autocast(precision, batch.features.device):
        loss, lengths = model.step_loss(batch)
    loss.backward()
    return float(lengths.float().mean())


def gvetool_step(model: GVE, batch: CaptionBatch, precision: str) -> float:
    context = lambda: autocast(precision, batch.features.device)  # noqa: E731
    with context():
        terms = model.loss_terms(batch)  # what the trainer does: sample once, then term by term
    backward_terms(LossModule(model), batch, terms, context)
    return float(terms[1].samples.lengths.float().mean())


def timed(step: Callable, model, batches, precision: str) -> tuple[list[float], float]:
    """Seconds of each step after the first (a warm-up) and the mean sampled length."""
    device = batches[0].features.device
    optimizer = Adam(model.parameters(), lr=1e-9)
    seconds, lengths = [], []
    for index, batch in enumerate(batches):
        torch.manual_seed(index)
        synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        length = step(model, batch, precision)
        optimizer.step()
        synchronize(device)
        if index:
            seconds.append(time.perf_counter() - start)
            lengths.append(length)
    return seconds, statistics.mean(lengths)


def matmul_gflops(device: torch.device, n: int = 4096) -> float:
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    synchronize(device)
    return 5 * 2 * n**3 / (time.perf_counter() - start) / 1e9


def _lstm_flops(inputs: int, tokens: int) -> float:
    return 2 * 4 * HIDDEN * (inputs + HIDDEN) * tokens


def breakdown(
    model: GVE, batch: CaptionBatch, precision: str, gflops: float, original: float | None
) -> None:
    """Each part of one gvetool step timed alone, with its matrix-product GFLOP/s.

    Then the step's arithmetic floor: its matrix products at the matmul rate measured in
    this run. Against the original's measured step it bounds the speed-up that any
    implementation computing these products could reach on this machine.
    """
    device = batch.features.device
    context = lambda: autocast(precision, device)  # noqa: E731
    optimizer = Adam(model.parameters(), lr=1e-9)
    stepper = LossModule(model)
    parts: list[tuple[str, float, float]] = []

    def clock(name: str, work: Callable[[], object], flops: float) -> object:
        synchronize(device)
        start = time.perf_counter()
        result = work()
        synchronize(device)
        parts.append((name, time.perf_counter() - start, flops))
        return result

    gvetool_step(model, batch, precision)  # warm up: CUDA graphs captured, kernels loaded
    torch.manual_seed(0)
    optimizer.zero_grad(set_to_none=True)
    classes = model.lstm2_class.num_embeddings if model.lstm2_class is not None else 0
    target_tokens = int(batch.lengths.sum())
    tf_forward = (_lstm_flops(HIDDEN, target_tokens) + _lstm_flops(2 * HIDDEN + classes,
                  target_tokens) + 2 * HIDDEN * VOCAB * target_tokens
                  + 2 * BATCH * FEATURES * HIDDEN)  # fmt: skip
    clock("teacher-forced pass + backward", lambda: backward_terms(
        stepper, batch, ["cross_entropy"], context), 3 * tf_forward)  # fmt: skip
    with context():
        samples = clock("sampling", lambda: model.generate(
            batch.features, batch.class_ids, model.max_len, greedy=False), 0.0)  # fmt: skip
    tokens, lengths = samples  # type: ignore[misc]
    sampled = int(lengths.sum())
    sample_flops = _lstm_flops(HIDDEN, sampled) * 2 + 2 * HIDDEN * VOCAB * sampled
    parts[-1] = (parts[-1][0], parts[-1][1], sample_flops)
    with context():
        reward = clock("classifier reward", lambda: model.reward(tokens, lengths,
                       batch.class_ids), _lstm_flops(HIDDEN, sampled))  # fmt: skip
    from gvetool.models.gve import Samples

    rows = torch.arange(BATCH, device=device)
    part = ReinforcePart(Samples(tokens, lengths, reward, reward), rows)  # type: ignore[arg-type]
    rescoring = 3 * (_lstm_flops(HIDDEN, sampled) * 2 + 2 * HIDDEN * VOCAB * sampled)
    clock("re-scoring + backward", lambda: backward_terms(stepper, batch, [part], context),
          rescoring)  # fmt: skip
    clock("optimizer (Adam)", optimizer.step, 0.0)
    total = sum(seconds for _, seconds, _ in parts)
    print(f"breakdown of one gvetool step ({sampled / BATCH:.1f} sampled tokens per sentence; "
          f"matmul {gflops:.0f} GFLOP/s):")  # fmt: skip
    for name, seconds, flops in parts:
        rate = f"{flops / seconds / 1e9:8.0f} GFLOP/s ({flops / seconds / 1e9 / gflops:4.0%})"
        print(f"  {name:32s} {seconds:7.3f} s  {seconds / total:4.0%}  "
              f"{rate if flops else '  (not matrix-bound)'}")  # fmt: skip
    floor = sum(flops for _, _, flops in parts) / gflops / 1e9
    print(f"arithmetic floor of this step: {floor:.3f} s (its matrix products at "
          f"{gflops:.0f} GFLOP/s)", end="")  # fmt: skip
    if original is not None:
        print(f"; the original's {original:.3f} s step / floor = {original / floor:.2f}x, "
              "the most a step computing these products can gain here")  # fmt: skip
    else:
        print()


def _summary(seconds: list[float]) -> str:
    return (f"{statistics.mean(seconds):7.3f} s/step (min {min(seconds):.3f}, "
            f"max {max(seconds):.3f}, {len(seconds)} steps)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
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
    args = parser.parse_args()
    if args.no_graphs:
        with forced(fused_recurrence=True, compact_sampling=False, graphed_decoding=False):
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    gflops = matmul_gflops(device)
    print(f"device {device} ({name}), {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, precision {args.precision}, "
          f"{'no graphs, ' if args.no_graphs else ''}reinforce_tokens "
          f"{args.reinforce_tokens}, matmul {gflops:.0f} GFLOP/s (fp32)")  # fmt: skip
    batches = make_batches(args.steps + 1, device)
    model = make_model(device, args.untrained, args.reinforce_tokens)
    ours, ours_len = timed(gvetool_step, model, batches, args.precision)
    theirs: list[float] = []
    if not args.no_original:
        original = OriginalGVE(make_model(device, args.untrained, None)).to(device).train()
        theirs, theirs_len = timed(original_step, original, batches, args.precision)
        print(f"(a) original: {_summary(theirs)}, sampled length {theirs_len:.1f}")
    print(f"(b) gvetool:  {_summary(ours)}, sampled length {ours_len:.1f}")
    if not args.no_original:
        ratio = statistics.mean(theirs) / statistics.mean(ours)
        print(f"speed-up (a)/(b): {ratio:.2f}x")
    breakdown(make_model(device, args.untrained, args.reinforce_tokens), batches[0],
              args.precision, gflops, statistics.mean(theirs) if theirs else None)  # fmt: skip


if __name__ == "__main__":
    main()
