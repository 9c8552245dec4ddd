"""Time of the paper's class similarity (CIDEr-D against every class) at CUB size.

Run on demand (not in CI):  python benchmarks/class_similarity.py [DATA_ROOT]

Without DATA_ROOT a CUB-size synthetic dataset (200 classes x 59 images, 10 descriptions
each) is generated first. The candidates are 5,794 sentences (one description of each
test image, cycled to CUB's test size); the references are every training description.
Prints the time of gvetool's sparse computation and the time pycocoevalcap's scorer takes
for a few candidates (one ``compute_score`` call per candidate over all classes, the
straightforward way), extrapolated to all candidates, and checks that both agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CUB_TEST_IMAGES = 5794
CHECKED = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(GVETOOL_QUIET="1", GVETOOL_HOME=str(Path(tmp) / "home"))
        root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "cub"
        if len(sys.argv) == 1:
            print("generating a CUB-size synthetic dataset ...", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gvetool",
                    "data",
                    "synth",
                    str(root),
                    "--classes",
                    "200",
                    "--images-per-class",
                    "59",
                    "--feature-dim",
                    "8",
                ],
                check=True,
            )
        from gvetool.builtins.datasets.cub import open_cub
        from gvetool.evaluation.relevance import class_similarity

        corpus = open_cub(root)
        train, test = corpus.split("train"), corpus.split("test")
        documents = train.tokens_by_image()
        test_tokens, offsets = test.tokens(), np.cumsum([0, *map(len, test.captions)])
        candidates = [test_tokens[offsets[i % len(test.captions)]] for i in range(CUB_TEST_IMAGES)]
        classes = len(corpus.class_names)
        references = sum(len(d) for d in documents)
        print(f"{len(candidates)} candidates x {classes} classes, {references} references")
        start = time.perf_counter()
        ours = class_similarity(candidates, documents, train.class_ids, classes)
        fast = time.perf_counter() - start
        print(f"gvetool (sparse, exact):      {fast:8.1f} s")

        from pycocoevalcap.cider.cider import Cider

        per_class = [[] for _ in range(classes)]
        for refs, c in zip(documents, train.class_ids, strict=True):
            per_class[c].extend(" ".join(r) for r in refs)
        start = time.perf_counter()
        for row in range(CHECKED):
            sentence = " ".join(candidates[row])
            _, expected = Cider().compute_score(
                dict(enumerate(per_class)), {c: [sentence] for c in range(classes)}
            )
            np.testing.assert_allclose(ours[row], expected, rtol=1e-9, atol=1e-12)
        naive = (time.perf_counter() - start) / CHECKED * len(candidates)
        print(f"pycocoevalcap, per candidate: {naive:8.1f} s (extrapolated from {CHECKED})")
        print(f"speed-up: {naive / fast:.0f}x; the first {CHECKED} rows agree to 1e-9")


if __name__ == "__main__":
    main()
