"""Evaluation speed on a CUB-size test split (about 2,950 images, 200 classes).

Run on demand (not in CI):  python benchmarks/eval.py [DATA_ROOT]

Without DATA_ROOT a CUB-size synthetic dataset is generated first. A GVE checkpoint at the
original sizes (hidden/embedding 1000, 8192-d features) is written with untrained weights
(speed does not depend on training; sentences are capped at 50 tokens), and a small
sentence classifier is trained for the relevance measures. Prints images/s of batched
generation against one image at a time, and the time of each evaluation stage.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(GVETOOL_QUIET="1", GVETOOL_HOME=str(Path(tmp) / "home"))
        root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "cub"
        run = lambda *a: subprocess.run([sys.executable, "-m", "gvetool", *a], check=True)  # noqa: E731
        if len(sys.argv) == 1:
            print("generating a CUB-size synthetic dataset ...", flush=True)
            run("data", "synth", str(root), "--classes", "200", "--images-per-class", "59")
        runs = Path(tmp) / "runs"
        print("training a small sentence classifier (1 epoch) ...", flush=True)
        small = ["--epochs", "1", "--hidden-size", "64", "--embedding-size", "64"]
        data = ["--dataset", "cub", "--data-root", str(root), "--out", str(runs)]
        run("train", "sc", *data, *small, "--val-metrics", "bleu")
        checkpoint = write_untrained_gve(root, runs)

        from gvetool.evaluation.evaluate import evaluate
        from gvetool.evaluation.trained import describe, load_for_evaluation

        loaded = load_for_evaluation(checkpoint, "test", None, None, "cpu")
        count = len(loaded.images)
        start = time.perf_counter()
        describe(loaded, batch_size=64)
        batched = count / (time.perf_counter() - start)
        sample = dataclasses.replace(loaded, images=Subset(loaded.images, 100))
        start = time.perf_counter()
        describe(sample, batch_size=1)
        single = 100 / (time.perf_counter() - start)
        start = time.perf_counter()
        evaluation = evaluate(checkpoint, "test")
        total = time.perf_counter() - start
    print(f"test images: {count}")
    print(f"generation, batches of 64: {batched:8.1f} images/s")
    print(f"generation, one by one:    {single:8.1f} images/s   ratio {batched / single:.1f}x")
    print(
        f"whole evaluation (generation, PTB tokenizer + metrics once, relevance, "
        f"counterfactuals): {total:.1f} s = {count / total:.1f} images/s"
    )
    print({k: round(v, 3) for k, v in evaluation.metrics.items() if isinstance(v, float)})


class Subset:
    """The first ``n`` images of an ImageExamples, for the one-by-one timing."""

    def __init__(self, images, n: int) -> None:
        self.images, self.n = images, n

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, indices: np.ndarray):
        return self.images.__getitems__(indices)


def write_untrained_gve(root: Path, runs: Path) -> Path:
    import torch

    from gvetool.builtins.datasets.cub import open_cub
    from gvetool.config.schema import TrainConfig
    from gvetool.data.features import open_precomputed
    from gvetool.data.vocab import Vocabulary
    from gvetool.engine.checkpoint import save_checkpoint
    from gvetool.kernel.manager import get_plugins

    corpus = open_cub(root)
    store = open_precomputed(corpus)
    vocab = Vocabulary.from_tokens(corpus.split("train").tokens())
    config = TrainConfig(model="gve", dataset="cub", data_root=str(root), out=str(runs))
    torch.manual_seed(0)
    model = get_plugins().models.get("gve").load()(config, len(vocab), store.dim, 200)
    path = runs / "gve-untrained" / "best.pt"
    save_checkpoint(
        path,
        {
            "model": "gve",
            "task": "captioning",
            "config": dataclasses.asdict(config),
            "vocabulary": list(vocab.words),
            "class_names": corpus.class_names,
            "feature_dim": store.dim,
            "state_dict": model.state_dict(),
        },
    )
    return path


if __name__ == "__main__":
    main()
