"""Peak memory of GVE training steps at the original sizes, with a 4000-word vocabulary.

Run on demand (not in CI):  python benchmarks/train_memory.py [--steps 3]

``benchmarks/train_startup.py`` measures the whole ``gvetool train gve`` command on a
CUB-size synthetic dataset, whose grammar has only a few dozen words. Real CUB captions
have thousands, which makes the output layer, its gradients, Adam's moments and the
per-token log-probabilities larger. This benchmark trains the model at the original sizes
(8192-d features, embedding/hidden 1000, batch 128, 200 classes, 4000 words, sentence
classifier of the same size) with the trainer's own step — optimizer, term-by-term
backward, allocator setting — each case in a fresh process:

* ``trained``: sampled sentences of a trained model's lengths (``train_step.py``'s fixture);
* ``untrained``: the start of training, where samples run to the 50-token cap.

It prints the peak RSS of each (the data pipeline and CLI add about 60 MB on top).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CASE = r"""
import contextlib, json, sys, time
import torch
sys.path.insert(0, {here!r})
import train_step as sizes
from gvetool.engine.adam import Adam
from gvetool.engine.allocator import return_large_blocks_promptly
from gvetool.engine.steps import LossModule, backward_terms
from gvetool.nn.execution import forced

return_large_blocks_promptly()
batch = sizes.make_batches(1, torch.device("cpu"))[0]
model = sizes.make_model(torch.device("cpu"), {untrained!r}, None)
optimizer = Adam([p for p in model.parameters() if p.requires_grad])
sampled, seconds = sizes.sampled_lengths(model), []
for step in range({steps}):
    torch.manual_seed(step)
    sizes.restart_lengths(model)
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    with forced(**{choice!r}) if {choice!r} else contextlib.nullcontext():
        backward_terms(LossModule(model), batch, model.loss_terms(batch))
    optimizer.step()
    seconds.append(time.perf_counter() - start)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
lengths = [float(x.float().mean()) for x in sampled]
print(json.dumps({{"peak_mb": int(hwm.split()[1]) / 1024, "lengths": lengths,
                  "seconds": seconds}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--reinforce",
        choices=["rescoring", "through-sampling"],
        help="how REINFORCE's gradient is computed [the execution policy's]",
    )
    args = parser.parse_args()
    choice = {}
    if args.reinforce:
        choice = {
            "fused_recurrence": False,
            "compact_sampling": True,
            "reinforce_through_sampling": args.reinforce == "through-sampling",
        }
    here = str(Path(__file__).resolve().parent)
    for case in ("trained", "untrained"):
        code = CASE.format(
            here=here, untrained=case == "untrained", steps=args.steps, choice=choice
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            sys.exit(f"{case}: the run failed:\n{done.stderr[-2000:]}")
        result = json.loads(lines[-1])
        lengths = ", ".join(f"{n:.1f}" for n in result["lengths"])
        times = ", ".join(f"{s:.1f}" for s in result["seconds"])
        print(
            f"{case:9s}: peak RSS {result['peak_mb']:6.0f} MB  "
            f"(mean sampled length per step: {lengths}; seconds per step: {times})"
        )


if __name__ == "__main__":
    main()
