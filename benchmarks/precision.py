"""What ``--precision bf16`` costs in results and saves in time, on the demo's data (on demand).

    python benchmarks/precision.py [--models lrcn,gve] [--seed 0] [--out DIR]

The demo's synthetic birds and sizes (``gvetool.workflows.demo.FULL``): one sentence classifier
(fp32), then each model trained twice from the same seed, in fp32 and under bf16
autocast, and evaluated on the test split (float32). Prints, per model and precision,
the training time and the metrics the demo compares. On a CPU whose matrix units take
bf16 (AVX512-BF16, AMX) a step's products run about twice as fast; the numbers differ by
rounding, so one seed shows whether the results move by more than seed-to-seed noise
(about 0.01 METEOR and 0.05-0.08 judge top-1 on this data, ``benchmarks/fidelity.py``).
A rerun with the same ``--out`` reuses finished runs.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

COLUMNS = ("METEOR", "CIDEr", "judge_top1", "class_rank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lrcn,gve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("precision-runs"))
    args = parser.parse_args()
    os.environ.setdefault("GVETOOL_QUIET", "1")

    from gvetool.config.schema import TrainConfig
    from gvetool.engine.trainer import train
    from gvetool.evaluation.evaluate import evaluate
    from gvetool.kernel.manager import get_plugins
    from gvetool.workflows.demo import DATASET, FULL

    data = args.out / "data"
    if not (data / "classes.txt").is_file():
        get_plugins().datasets.get(DATASET).load_step("generate")(data, force=True, **FULL.data)
    common = {
        "dataset": DATASET,
        "data_root": str(data),
        "seed": args.seed,
        "val_metrics": "bleu,meteor,rouge,cider",
    }

    def trained(
        model: str, precision: str, sizes: dict, sc: Path | None = None
    ) -> tuple[Path, float]:
        out = args.out / "runs" / f"{model}-{precision}"
        done = sorted(out.glob(f"{model}-*/best.pt"))
        if done:
            return done[-1], float("nan")
        rewarded = get_plugins().models.get(model).reward_model is not None
        config = TrainConfig(
            model=model,
            out=str(out),
            precision=precision,
            **common,
            **sizes,
            sc_ckpt=str(sc) if rewarded else None,
        )
        config.validate()
        start = time.perf_counter()
        run = train(config)
        return run / "best.pt", time.perf_counter() - start

    classifier, _ = trained("sc", "fp32", FULL.sentence_classifier)
    print(f"{'':6}{'':6}{'train s':>9}" + "".join(f"{c:>12}" for c in COLUMNS))
    for model in args.models.split(","):
        for precision in ("fp32", "bf16"):
            best, seconds = trained(model, precision, FULL.captioners, classifier)
            metrics = evaluate(best, "test", sc_ckpt=classifier, metrics=FULL.metrics).metrics
            cells = "".join(f"{metrics.get(c, float('nan')):>12.3f}" for c in COLUMNS)
            print(f"{model:6}{precision:6}{seconds:>9.0f}{cells}", flush=True)


if __name__ == "__main__":
    main()
