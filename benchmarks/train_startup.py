"""Start-up time and peak memory of ``gvetool train gve`` at CUB size.

Run on demand (not in CI):
    python benchmarks/train_startup.py [DATA_ROOT] [--words 4000] [--trained-lengths]

Without DATA_ROOT a CUB-size synthetic dataset (200 classes x 59 images, 8192-d) is made
first; ``--words N`` then gives it captions drawn from N words, a CUB-like vocabulary.
A small sentence classifier is trained (one epoch), the feature store is warmed, then
``gvetool train gve`` runs at the default sizes (hidden/embedding 1000, batch 128) in a
fresh process that reports the time from process start to the start and to the end of the
first training step (an untrained model samples long sentences: its first step is slow),
and the peak RSS after three steps. ``--trained-lengths`` gives the model's samples a
trained model's lengths (``train_step.py``'s fixture) instead, the steps of most of a run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = r"""
import json, os, sys, time
started = time.perf_counter()
from gvetool.data.captions import CaptionExamples
from gvetool.engine.adam import Adam
first_batch, steps = [], []
real_fetch, real_step = CaptionExamples.__getitems__, Adam.step

def fetch(*args, **kwargs):  # the first training batch is fetched as its step begins
    if not first_batch:
        first_batch.append(time.perf_counter() - started)
    return real_fetch(*args, **kwargs)

def step(self, *args, **kwargs):
    result = real_step(self, *args, **kwargs)
    steps.append(time.perf_counter() - started)
    if len(steps) == 3:
        hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
        print(json.dumps({"first_batch_s": first_batch[0], "first_step_s": steps[0],
                          "peak_rss_mb": int(hwm.split()[1]) / 1024}))
        sys.stdout.flush()
        os._exit(0)
    return result

CaptionExamples.__getitems__, Adam.step = fetch, step
if os.environ.get("PROBE_TRAINED_LENGTHS"):  # samples of a trained model's lengths
    sys.path.insert(0, os.environ["PROBE_TRAINED_LENGTHS"])
    import train_step
    from gvetool.builtins.models.gve import GVE
    real_init, real_terms = GVE.__init__, GVE.loss_terms

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.out = train_step.SentenceLengths(self.out, train_step.BATCH)

    def terms(self, batch):
        train_step.restart_lengths(self)
        return real_terms(self, batch)

    GVE.__init__, GVE.loss_terms = init, terms
from gvetool.cli import main
sys.exit(main(sys.argv[1:]))
"""


def gvetool(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "gvetool", *args], check=True, env=env)


def with_vocabulary(root: Path, words: int) -> None:
    """Replace every caption by 10-18 words drawn uniformly from ``words`` made-up words.

    The synthetic birds' grammar has a few dozen words; CUB's captions have thousands,
    which sizes the embedding, the output layer, their gradients and Adam's moments.
    """
    rng = random.Random(0)
    vocabulary = [f"w{i:05d}" for i in range(words)]
    for split in ("train", "val", "test"):
        path = root / f"descriptions_bird.{split}.fg.json"
        data = json.loads(path.read_text())
        for annotation in data["annotations"]:
            length = rng.randint(10, 18)
            annotation["caption"] = " ".join(rng.choices(vocabulary, k=length)) + "."
        path.write_text(json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root", nargs="?", type=Path, help="a CUB-layout dataset")
    parser.add_argument(
        "--words", type=int, default=0, help="made-up dataset: captions of N words (0: synth's)"
    )
    parser.add_argument(
        "--trained-lengths", action="store_true", help="sample a trained model's lengths"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GVETOOL_QUIET": "1", "GVETOOL_HOME": str(Path(tmp) / "home")}
        if args.trained_lengths:
            env["PROBE_TRAINED_LENGTHS"] = str(Path(__file__).resolve().parent)
        root = args.data_root or Path(tmp) / "cub"
        if args.data_root is None:
            print("generating a CUB-size synthetic dataset ...", flush=True)
            gvetool(
                "data", "synth", str(root), "--classes", "200", "--images-per-class", "59", env=env
            )
            if args.words:
                with_vocabulary(root, args.words)
        runs = str(Path(tmp) / "runs")
        common = ["--dataset", "cub", "--data-root", str(root), "--out", runs]
        print("training a small sentence classifier (1 epoch) ...", flush=True)
        gvetool(
            "train",
            "sc",
            *common,
            "--epochs",
            "1",
            "--hidden-size",
            "64",
            "--embedding-size",
            "64",
            "--val-metrics",
            "bleu",
            env=env,
        )
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE, "train", "gve", *common, "--epochs", "1"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        wall = time.perf_counter() - start
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            sys.exit(f"the probe failed:\n{done.stderr[-2000:]}")
        result = json.loads(lines[-1])
    print(f"process start -> first training step starts: {result['first_batch_s']:.1f} s")
    print(
        f"process start -> first GVE step done: {result['first_step_s']:.1f} s "
        f"(wall incl. interpreter start {wall:.1f} s for 3 steps)"
    )
    print(f"peak RSS after 3 steps: {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
