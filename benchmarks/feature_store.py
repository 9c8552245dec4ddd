"""Peak memory and time: opening the feature store vs unpickling CUB_feature_dict.p.

Run on demand (not in CI):  python benchmarks/feature_store.py [DATA_ROOT]

Without DATA_ROOT a CUB-size synthetic dataset (200 classes x 59 images, 8192-d features)
is generated in a temporary folder first. Each measurement runs in a fresh process so its
peak RSS is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = r"""
import json, sys, time
from pathlib import Path
start = time.perf_counter()
root, mode, cache = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
if mode == "pickle":
    from gvetool.utils.safe_pickle import load_pickle
    data = load_pickle(root / "CUB_feature_dict.p")
    count = len(data)
else:
    from gvetool.data.features import open_precomputed
    from gvetool.builtins.datasets.cub import open_cub
    store = open_precomputed(open_cub(root), cache)
    batch = store.array[store.rows(store.image_ids[:128])]
    count = len(store)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter survives exec and would report the parent's peak.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
peak_mb = int(hwm.split()[1]) / 1024
print(json.dumps({"mode": mode, "images": count, "seconds": seconds, "peak_rss_mb": peak_mb}))
"""


def measure(root: Path, mode: str, cache: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root), mode, str(cache)],
        capture_output=True,
        text=True,
        check=True,
        env={"GVETOOL_QUIET": "1", "PATH": ""},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            root = Path(sys.argv[1])
        else:
            from gvetool.builtins.datasets.synth import SynthOptions, generate

            root = Path(tmp) / "cub"
            print("generating a CUB-size synthetic dataset ...", flush=True)
            generate(root, SynthOptions(classes=200, images_per_class=59))
        cache = Path(tmp) / "features"
        build = measure(root, "store", cache)  # first open converts the pickle
        store = measure(root, "store", cache)
        pickle = measure(root, "pickle", cache)
    print(f"images: {pickle['images']}")
    print(
        f"convert pickle -> store (first open): {build['seconds']:6.2f} s  "
        f"peak RSS {build['peak_rss_mb']:7.0f} MB"
    )
    print(
        f"load the pickle (the old way):        {pickle['seconds']:6.2f} s  "
        f"peak RSS {pickle['peak_rss_mb']:7.0f} MB"
    )
    print(
        f"open the feature store:               {store['seconds']:6.2f} s  "
        f"peak RSS {store['peak_rss_mb']:7.0f} MB"
    )
    print(
        f"ratio pickle/store: time {pickle['seconds'] / store['seconds']:.1f}x, "
        f"peak RSS {pickle['peak_rss_mb'] / store['peak_rss_mb']:.1f}x"
    )


if __name__ == "__main__":
    main()
