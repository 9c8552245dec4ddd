"""How often the explorer's class ranking puts an image's true class first (on demand).

    python benchmarks/class_ranking.py RUN [--images 40] [--split test] [--data-root DIR]

The explorer (``gvetool serve``) ranks the classes of an uploaded photo with
:meth:`gvetool.Explainer.rank_classes`: the run's sentence classifier reading the run's own
sentences about the image (for a class-conditioned run, averaged over its explanations of
the image as every class). This ranks ``--images`` images of a split, spread over the
split, by their dataset ids, and prints top-1 and top-5 against chance: how much of the
photo the ranking uses, which depends on what the run's features carry.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gvetool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--split", default="test")
    parser.add_argument("--data-root", type=Path)
    args = parser.parse_args()
    evaluation = gvetool.evaluate(
        args.run, split=args.split, data_root=args.data_root, metrics="repetition", write=False
    )
    step = max(1, len(evaluation.predictions) // args.images)
    chosen = evaluation.predictions[::step][: args.images]
    explainer = gvetool.load(args.run, data_root=args.data_root)
    rankings = explainer.rank_classes([p["image_id"] for p in chosen])
    truth = [p["class"] for p in chosen]
    top1 = sum(r[0][0] == t for r, t in zip(rankings, truth, strict=True)) / len(truth)
    top5 = sum(t in [c for c, _ in r[:5]] for r, t in zip(rankings, truth, strict=True)) / len(
        truth
    )
    classes = len(explainer.class_names)
    print(
        f"{args.run}: {explainer.model}, {len(truth)} {args.split} images, {classes} classes: "
        f"top-1 {top1:.2f} (chance {1 / classes:.2f}), top-5 {top5:.2f} "
        f"(chance {min(1.0, 5 / classes):.2f})"
    )


if __name__ == "__main__":
    main()
