"""GVE training step: the straightforward formulation vs gvetool's, at the original sizes.

Run on demand (not in CI):  python benchmarks/train_step.py [--steps 3] [--device cpu]

(a) straightforward: image + one-hot label concatenated into LSTM 2's input at every step
    of a padded batch; REINFORCE by differentiating through the step-by-step sampling loop.
(b) gvetool: per-sentence gate input, packed sequences, sampling without a graph and
    packed scoring passes, loss terms backpropagated one at a time, as the trainer does
    (the same gradient: tests/test_models.py).

Sizes: 8192-d features, embedding/hidden 1000, batch 128, 200 classes, a 4000-word
vocabulary, ~14-token captions; the end token's bias is set so sampled sentences are
~14 tokens long, like a trained model's (an untrained one rambles to the 50-token cap).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from gvetool.data.captions import CaptionBatch
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.reference import naive_caption_loss, naive_reinforce_loss
from gvetool.engine.trainer import LossModule, backward_terms
from gvetool.models.gve import GVE
from gvetool.models.sentence_classifier import SentenceClassifier

FEATURES, HIDDEN, BATCH, CLASSES, VOCAB, CAPTION_LEN, MAX_LEN = 8192, 1000, 128, 200, 4000, 14, 50


def make_batch(device: torch.device) -> CaptionBatch:
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(CAPTION_LEN - 4, CAPTION_LEN + 5, (BATCH,), generator=generator)
    tokens = torch.randint(4, VOCAB, (BATCH, int(lengths.max())), generator=generator)
    tokens[torch.arange(tokens.shape[1])[None, :] >= lengths[:, None]] = 0
    tokens[torch.arange(BATCH), lengths - 1] = Vocabulary.end_id
    classes = torch.randint(0, CLASSES, (BATCH,), generator=generator)
    features = torch.rand(BATCH, FEATURES, generator=generator)
    return CaptionBatch(features, tokens, lengths, classes, torch.arange(BATCH)).to(device)


def make_model(device: torch.device) -> GVE:
    torch.manual_seed(0)
    model = GVE(VOCAB, FEATURES, CLASSES, HIDDEN, HIDDEN, dropout=0.5, max_len=MAX_LEN)
    with torch.no_grad():  # p(end) ~ 1/14 per step: sampled sentences of trained length
        model.out.bias[Vocabulary.end_id] = math.log((VOCAB - 1) / (CAPTION_LEN - 1))
    classifier = SentenceClassifier(VOCAB, CLASSES, HIDDEN, HIDDEN)
    model.attach_sentence_classifier(classifier.to(device))
    return model.to(device).train()


def straightforward_step(model: GVE, batch: CaptionBatch) -> float:
    ce = naive_caption_loss(model, batch.features, batch.class_ids, batch.tokens, batch.lengths)
    rl, _, lengths = naive_reinforce_loss(model, batch.features, batch.class_ids, MAX_LEN)
    (ce + model.reinforce_weight * rl).backward()
    return float(lengths.float().mean())


def gvetool_step(model: GVE, batch: CaptionBatch) -> float:
    terms = model.loss_terms(batch)  # what the trainer does: sample once, then term by term
    backward_terms(LossModule(model), batch, terms)
    return float(terms[1].samples.lengths.float().mean())


def timed(step, model, batch, steps: int, device: torch.device) -> tuple[float, float]:
    optimizer = Adam(model.parameters(), lr=1e-9)  # tiny: keep lengths stable
    lengths = []
    times = []
    for i in range(steps + 1):  # the first step warms up
        torch.manual_seed(i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad()
        lengths.append(step(model, batch))
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / steps, sum(lengths[1:]) / steps


def matmul_gflops(device: torch.device, n: int = 2048) -> float:
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 5 * 2 * n**3 / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads, matmul "
          f"{matmul_gflops(device):.0f} GFLOP/s")  # fmt: skip
    batch = make_batch(device)
    naive_s, naive_len = timed(straightforward_step, make_model(device), batch, args.steps, device)
    ours_s, ours_len = timed(gvetool_step, make_model(device), batch, args.steps, device)
    print(f"(a) straightforward: {naive_s:6.2f} s/step (mean sampled length {naive_len:.1f})")
    print(f"(b) gvetool:         {ours_s:6.2f} s/step (mean sampled length {ours_len:.1f})")
    print(f"speed-up (a)/(b):    {naive_s / ours_s:6.2f}x")


if __name__ == "__main__":
    main()
