"""LRCN at COCO scale on a CPU: seconds per step and peak memory, data pipeline included.

Run on demand (not in CI):  python benchmarks/coco_scale.py [--steps 10]

COCO 2014's training split (82,783 images, 414k captions), a 10,000-word vocabulary and
2048-d features (ResNet pooled), LRCN at the original sizes (embedding/hidden 1000,
batch 128). The captions are synthetic (Zipf-distributed words, 8 to 16 per caption),
the features random; both go through the tool's own pipeline in a fresh process: caption
strings -> PTB tokens (cached) -> vocabulary -> encoded captions -> feature store reads ->
the trainer's step (term-by-term backward, its Adam). Printed: the time to prepare the
data, seconds per step (first step excluded), and the peak RSS after the data is ready
and after the steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

IMAGES, CAPTIONS_PER_IMAGE, WORDS, DIM = 82_783, 5, 10_000, 2048

PROBE = r"""
import json, sys, time
started = time.perf_counter()
import numpy as np
import torch
from gvetool.config.schema import TrainConfig
from gvetool.data.captions import CaptionExamples
from gvetool.data.corpus import Split
from gvetool.data.features import FeatureStore
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.allocator import return_large_blocks_promptly
from gvetool.engine.steps import LossModule, backward_terms, epoch_batches
from gvetool.builtins.models.captioner import build_lrcn

def hwm_mb():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024

store = FeatureStore({store!r})
rng = np.random.default_rng(0)
words = np.array([f"w{{i}}" for i in range({words})])
ranks = np.arange(1, {words} + 1)
zipf = (1 / ranks) / (1 / ranks).sum()
lengths = rng.integers(8, 17, size=len(store) * {per_image})
ids = rng.choice({words}, int(lengths.sum()), p=zipf)
ends = np.cumsum(lengths)
texts = [" ".join(words[ids[end - n : end]]) for n, end in zip(lengths, ends)]
captions = [texts[i : i + {per_image}] for i in range(0, len(texts), {per_image})]
del texts, ids
split = Split("train", store.image_ids, captions, store.image_ids)
vocab = Vocabulary.from_tokens(split.tokens(), 1)
examples = CaptionExamples(split, vocab, store)
data_s = time.perf_counter() - started
data_mb = hwm_mb()

return_large_blocks_promptly()
torch.manual_seed(0)
config = TrainConfig(model="lrcn", dataset="coco")
model = build_lrcn(config, len(vocab), store.dim, 0).train()
optimizer = Adam(list(model.parameters()), lr=config.lr)
stepper = LossModule(model)
seconds = []
for indices in epoch_batches(len(examples), config.batch_size, 0, 0, 1)[: {steps} + 1]:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    batch = examples.__getitems__(indices)
    backward_terms(stepper, batch, [None])
    optimizer.step()
    seconds.append(time.perf_counter() - start)
print(json.dumps({{"data_s": data_s, "data_mb": data_mb, "captions": len(examples),
                  "vocabulary": len(vocab), "seconds": seconds[1:], "peak_mb": hwm_mb()}}))
"""


def write_store(directory: Path) -> None:
    """A feature store of random 2048-d features for IMAGES images, in chunks."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    array = np.lib.format.open_memmap(
        directory / "features.npy", mode="w+", dtype="<f4", shape=(IMAGES, DIM)
    )
    for start in range(0, IMAGES, 8192):
        stop = min(start + 8192, IMAGES)
        array[start:stop] = rng.random((stop - start, DIM), dtype=np.float32)
    array.flush()
    del array
    index = {
        "format": "gvetool-features/1",
        "image_ids": [f"COCO_{i:012d}" for i in range(IMAGES)],
        "dim": DIM,
        "source": "benchmark",
    }
    (directory / "index.json").write_text(json.dumps(index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        print(f"writing a {IMAGES} x {DIM} feature store ...", flush=True)
        write_store(store)
        code = PROBE.format(
            store=str(store), words=WORDS, per_image=CAPTIONS_PER_IMAGE, steps=args.steps
        )
        env = {**os.environ, "GVETOOL_HOME": str(Path(tmp) / "home"), "GVETOOL_QUIET": "1"}
        print("preparing the captions and training LRCN in a fresh process ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"the probe failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    seconds = result["seconds"]
    print(f"{result['captions']} captions, {result['vocabulary']} words, {DIM}-d features")
    print(
        f"data ready (tokens, vocabulary, encoding): {result['data_s']:.1f} s, "
        f"peak RSS {result['data_mb']:.0f} MB"
    )
    mean = sum(seconds) / len(seconds)
    print(
        f"LRCN step: {mean:.2f} s/step (min {min(seconds):.2f}, max {max(seconds):.2f}, "
        f"{len(seconds)} steps); peak RSS {result['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
