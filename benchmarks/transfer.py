"""Transfer vs training from scratch, the same number of epochs, on synthetic birds.

Run on demand (not in CI):  python benchmarks/transfer.py [--epochs 3]

The default class split divides the synthetic classes into halves (cub1, cub2). A GVE is
trained on cub1; on cub2 a GVE is then (a) trained from scratch and (b) transferred from
the cub1 model, for the same epochs, each rewarded by cub2's own sentence classifier.
Both are evaluated on cub2's test split: CIDEr and explanation accuracy side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

from gvetool.builtins.datasets.synth import SynthOptions, generate
from gvetool.config.schema import TrainConfig
from gvetool.engine.trainer import train
from gvetool.evaluation.evaluate import evaluate

SIZES = {"embedding_size": 128, "hidden_size": 256, "lr": 0.004, "batch_size": 64, "dropout": 0.3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(GVETOOL_QUIET="1", GVETOOL_HOME=str(Path(tmp) / "home"))
        data = Path(tmp) / "birds"
        generate(data, SynthOptions(feature_dim=512))
        base = TrainConfig(
            data_root=str(data), out=str(Path(tmp) / "runs"), val_metrics="bleu,cider", **SIZES
        )
        sc_epochs = {"epochs": 8, "embedding_size": 64, "hidden_size": 128}
        train(dataclasses.replace(base, model="sc", dataset="cub1", **sc_epochs))
        source = train(dataclasses.replace(base, model="gve", dataset="cub1", epochs=8))
        target_sc = train(dataclasses.replace(base, model="sc", dataset="cub2", **sc_epochs))
        common = dict(
            model="gve", dataset="cub2", epochs=args.epochs, sc_ckpt=str(target_sc / "best.pt")
        )
        scratch = train(dataclasses.replace(base, **common))
        transfer = train(
            dataclasses.replace(
                base, **common, transfer_from=str(source / "best.pt"), vocab_mode="extend"
            )
        )
        metrics = ("bleu", "rouge", "cider")
        results = {
            name: evaluate(run / "best.pt", "test", metrics=metrics).metrics
            for name, run in (("scratch", scratch), ("transfer", transfer))
        }
    print(f"GVE on cub2 after {args.epochs} epochs (test split)")
    print(f"{'':18}{'scratch':>10}{'transfer':>10}")
    for key in ("CIDEr", "explanation_top1", "class_rank"):
        print(f"{key:18}{results['scratch'][key]:10.3f}{results['transfer'][key]:10.3f}")
    ratio = results["transfer"]["CIDEr"] / max(results["scratch"]["CIDEr"], 1e-9)
    print(f"CIDEr ratio transfer/scratch: {ratio:.2f}x")


if __name__ == "__main__":
    main()
