"""GVE's REINFORCE on a CPU: re-scoring the samples vs backpropagating through sampling.

Run on demand (not in CI):
    python benchmarks/reinforce_paths.py [--steps 4] [--untrained] [--only NAME]

The trainer's step (``loss_terms`` + ``backward_terms``) at CUB size (benchmarks/
train_step.py's model and batches) under each formulation, the same samples in both
(sampling comes first either way); prints seconds per step and their ratio.
``--only`` runs one formulation, for its peak memory alone (``/usr/bin/time -v``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_step import make_batches, make_model, restart_lengths

from gvetool.engine.steps import LossModule, backward_terms
from gvetool.nn.execution import forced

CHOICES = {
    "re-scoring": {"fused_recurrence": False, "compact_sampling": True},
    "through sampling": {
        "fused_recurrence": False,
        "compact_sampling": True,
        "reinforce_through_sampling": True,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--untrained", action="store_true")
    parser.add_argument("--only", choices=["rescoring", "through"], help="one formulation")
    args = parser.parse_args()
    device = torch.device("cpu")
    batches = make_batches(args.steps + 1, device)
    times: dict[str, list[float]] = {}
    chosen = {"rescoring": "re-scoring", "through": "through sampling"}.get(args.only or "")
    for name, choice in CHOICES.items():
        if chosen and name != chosen:
            continue
        model = make_model(device, args.untrained, None)
        seconds = []
        for index, batch in enumerate(batches):
            torch.manual_seed(index)
            restart_lengths(model)
            start = time.perf_counter()
            model.zero_grad(set_to_none=True)
            with forced(**choice):
                terms = model.loss_terms(batch)
                backward_terms(LossModule(model), batch, terms, torch.enable_grad)
            if index:
                seconds.append(time.perf_counter() - start)
        times[name] = seconds
        print(
            f"{name:>17}: {statistics.mean(seconds):.2f} s/step "
            f"({', '.join(f'{s:.2f}' for s in seconds)})",
            flush=True,
        )
    if len(times) == 2:
        ratio = statistics.mean(times["re-scoring"]) / statistics.mean(times["through sampling"])
        print(f"re-scoring / through sampling: {ratio:.2f}x")


if __name__ == "__main__":
    main()
