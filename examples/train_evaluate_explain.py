"""gvetool from Python: make data, train a sentence classifier and GVE, evaluate, explain.

Run it as a script (``python examples/train_evaluate_explain.py [--out DIR] [--quick]``) or
cell by cell in an editor that knows ``# %%`` cells (VS Code, Spyder, Jupytext). It needs
no download: the data is gvetool's embedded synthetic birds, and the image encoder of the
photo-explaining run is a randomly initialised ResNet-18 (``encoder_weights="none"``).
"""

# %% Settings
import argparse
from pathlib import Path

from PIL import Image

import gvetool

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("gvetool-example"))
parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
args, _ = parser.parse_known_args()  # known only: a notebook kernel passes its own
OUT = args.out
DATA: dict = {}  # the demo's birds: 20 classes x 30 images, 10 descriptions each
SIZES = {
    "epochs": 5,
    "hidden_size": 256,
    "embedding_size": 128,
    "batch_size": 64,
    "lr": 0.002,
    "dropout": 0.3,
    "threads": 1,
}  # the demo's sizes, fewer epochs
if args.quick:
    DATA = {"classes": 4, "images_per_class": 5, "captions_per_image": 3, "image_size": 32}
    SIZES = {"epochs": 1, "hidden_size": 8, "embedding_size": 8, "batch_size": 8}

# %% Data: the embedded synthetic birds in CUB's layout
birds = gvetool.generate_dataset("synth", OUT / "birds", force=True, **DATA)
common = {"dataset": "synth", "data_root": birds, "out": OUT / "runs", **SIZES}

# %% Train: the sentence classifier that rewards GVE, then GVE on the shipped features
sc = gvetool.train("sc", **common)
gve = gvetool.train("gve", **common, sc_ckpt=sc.best)
print(f"sc: best {sc.best_metric} {sc.best_score:.3f} ({sc.directory.name})")
print(f"gve: best {gve.best_metric} {gve.best_score:.3f} after {gve.epochs_done} epochs")

# %% Evaluate GVE on the test split (writes metrics.json, predictions, report.html)
result = gvetool.evaluate(gve.best, split="test")
for key in ("METEOR", "CIDEr", "judge_top1", "class_rank"):
    print(f"{key}: {result.metrics[key]:.3f}")
print(f"report: {result.report}")

# %% Explain two test images by id, and one of them as another class
explainer = gvetool.load(gve.best)
ids = [p["image_id"] for p in result.predictions[:2]]
for explanation in explainer.explain(ids):
    print(explanation)
for counterfactual in explainer.counterfactual(ids[:1]):
    print(counterfactual)

# %% Explain a photo: a run whose features come from an image encoder encodes any image
cnn = gvetool.train("gve", **common, sc_ckpt=sc.best, encoder="resnet18", encoder_weights="none")
photo = OUT / "photo.png"  # any PNG or JPEG file would do; a random-init ResNet's features
Image.open(result.image_paths[0]).save(photo)  # explain worse than ImageNet weights would
[from_file] = gvetool.load(cnn.best).explain(images=[photo], classes=result.predictions[0]["class"])
print(from_file)
