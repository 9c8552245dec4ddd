"""The original code as a live peer: gvetool and salaniz/pytorch-gve-lrcn, same data, same settings.

    python benchmarks/original_peer.py --original PATH [--dataset reef|synth|moths]
        [--seeds 0,1,2] [--epochs 5] [--hidden-size 1000] [--work /tmp/gvetool-peer]
        [--device cpu|cuda] [--sampler inverse-cdf|categorical] [--sides original,gvetool]
        [--models sc,lrcn,gve]

``PATH`` is a snapshot of the original repository (a checkout, or the git directory that
the search tool's ``fetch`` brings). Everything the original needs lives under ``--work``,
outside the project tree: a copy of its files (never imported by gvetool), its own venv
(``--python`` to reuse one; otherwise one is made with torch, torchvision, numpy, pillow,
pycocotools, pycocoevalcap and tensorboard from the package registry), the dataset in the
original's ``<data-path>/cub`` layout.

For each seed both implementations train the sentence classifier, LRCN and GVE with the
original's hyper-parameters (embedding/hidden 1000, batch 128, Adam 1e-3, dropout 0.5,
lambda 0.2; ``--hidden-size`` makes it smaller), keep the epoch of best validation CIDEr,
and describe the test split, with that epoch's weights and with the last epoch's (the
two sides then compared after the same training, whichever epoch validation picked).
Both sides' test sentences are scored by the same code (pycocoevalcap's CIDEr, gvetool's
independent judge, the repetition measures); per epoch the mean REINFORCE reward and the
validation CIDEr of each are printed side by side.

The original is run unchanged through a small harness (written into ``--work``) that
does what this machine needs and records what the original does not log:

* SPICE is skipped (its CoreNLP models cannot be downloaded here); the original reports
  CIDEr, which picks its best checkpoint, without it;
* the original's LRCN builds a torchvision CNN for any dataset; here, as its GVE does, it
  reads the dataset's precomputed features;
* its decoder ``squeeze()``s the sampled ``(batch, steps)`` arrays, which loses a
  dimension when every sentence ends at the first token (a small untrained model does)
  or a batch holds one image, and crashes; the harness puts the dimension back;
* the mean reward of each epoch is recorded from the classifier probabilities the
  original computes (its own values; nothing in its step changes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

HERE = Path(__file__).resolve().parent
# The test measures printed for both sides, each as mean ± std over seeds and per seed.
MEASURES = (
    "CIDEr",
    "judge_top1",
    "repeated_trigram_share",
    "distinct_sentences",
    "mean_sentence_length",
)
HEADERS = ("CIDEr", "judge top-1", "repeats", "distinct", "length")
MODELS = ("sc", "lrcn", "gve")
DEPENDENCIES = (
    "torch",
    "torchvision",
    "numpy<2.3",
    "pillow",
    "pycocotools",
    "pycocoevalcap==1.2",
    "tensorboard",
)

HARNESS = '''
"""Runs the original's main.py with this machine's adjustments (see original_peer.py)."""
import json, os, runpy, sys
import numpy as np
import pycocoevalcap.eval as coco_eval

class NoSpice:
    def method(self):
        return "SPICE"
    def compute_score(self, gts, res):
        return 0.0, [0.0] * len(res)

coco_eval.Spice = NoSpice

import models.model_loader as loader
from models.lrcn import LRCN

def lrcn_on_features(self):
    return LRCN(self.dataset.input_size, self.args.embedding_size, self.args.hidden_size,
                len(self.dataset.vocab), self.args.layers_to_truncate)

loader.ModelLoader.lrcn = lrcn_on_features
generate = LRCN.generate_sentence

def keep_two_dimensions(self, image_inputs, *args, **kwargs):
    out = generate(self, image_inputs, *args, **kwargs)
    batch = image_inputs.size(0)
    def fix(t):  # squeeze() dropped the steps (one step) or the batch (one image)
        return t.unsqueeze(0 if batch == 1 else 1) if t.dim() == 1 else t
    return (fix(out[0]), fix(out[1]), out[2]) if isinstance(out, tuple) else fix(out)

LRCN.generate_sentence = keep_two_dimensions

import train.gve_trainer as gve_trainer

seen = {}

class RecordingNumpy:
    def __getattr__(self, name):
        return getattr(np, name)
    def argsort(self, *args, **kwargs):
        seen["order"] = np.argsort(*args, **kwargs)
        return seen["order"]

class RecordingF:
    def __getattr__(self, name):
        return getattr(gve_trainer.torch.nn.functional, name)
    def softmax(self, *args, **kwargs):
        seen["probs"] = gve_trainer.torch.nn.functional.softmax(*args, **kwargs)
        return seen["probs"]

gve_trainer.np, gve_trainer.F = RecordingNumpy(), RecordingF()
rewards = []
step, epoch = gve_trainer.GVETrainer.train_step, gve_trainer.GVETrainer.train_epoch

def train_step(self, image_input, word_inputs, word_targets, lengths, labels):
    loss = step(self, image_input, word_inputs, word_targets, lengths, labels)
    order = seen["order"]
    sorted_labels = labels.cpu().numpy()[order]
    probs = seen["probs"].detach().cpu().numpy()
    rewards.append(float(probs[np.arange(len(order)), sorted_labels].mean()))
    return loss

def train_epoch(self):
    result = epoch(self)
    if self.train:
        with open(os.environ["PEER_REWARDS"], "a") as handle:
            handle.write(json.dumps(float(np.mean(rewards))) + "\\n")
        rewards.clear()
    return result

gve_trainer.GVETrainer.train_step, gve_trainer.GVETrainer.train_epoch = train_step, train_epoch
sys.argv = ["main.py", *sys.argv[1:]]
runpy.run_path(os.path.join(os.environ["PEER_ORIGINAL"], "main.py"), run_name="__main__")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original", type=Path, required=True)
    parser.add_argument("--dataset", choices=("reef", "synth", "moths"), default="reef")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gvetool-peer"))
    parser.add_argument("--python", type=Path, help="a venv's python with the original's deps")
    parser.add_argument(
        "--sampler",
        choices=("inverse-cdf", "categorical"),
        default="inverse-cdf",
        help="gvetool's sampled words: its own draw, or torch's Categorical as the original "
        "draws them (an ablation; its runs go to gvetool-categorical)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="both sides on this device (cuda: the original's sizes in minutes)",
    )
    parser.add_argument(
        "--models",
        default="sc,lrcn,gve",
        help="the models to train, in order (gve needs sc; lrcn alone needs neither: "
        "more seeds of the describer for less time)",
    )
    parser.add_argument(
        "--sides",
        default="original,gvetool",
        help="the implementations to run and print (one side at a time where a run takes "
        "hours; finished runs under --work are reused)",
    )
    args = parser.parse_args()
    sides = [side for side in args.sides.split(",") if side]
    if not sides or set(sides) - {"original", "gvetool"}:
        raise SystemExit("--sides takes original, gvetool or both, comma-separated")
    args.models = [m for m in MODELS if m in args.models.split(",")]
    if "gve" in args.models and "sc" not in args.models:
        raise SystemExit("--models gve needs sc (its reward)")
    work = args.work.resolve()
    if HERE.parent in (work, *work.parents):
        raise SystemExit("--work must be outside the project tree")
    python = args.python or _venv(work / "venv")
    original = _checkout(args.original, work / "original", python)
    data = _dataset(args.dataset, work / "data" / args.dataset)
    (work / "harness.py").write_text(HARNESS)
    settings = [
        "--embedding-size",
        str(args.hidden_size),
        "--hidden-size",
        str(args.hidden_size),
        "--batch-size",
        str(args.batch_size),
        "--num-epochs",
        str(args.epochs),
    ]
    if args.device == "cpu":
        settings.append("--disable-cuda")
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        run = work / "runs" / args.dataset / f"seed{seed}"
        result: dict = {"seed": seed}
        if "original" in sides:
            result["original"] = _run_original(
                python,
                original,
                work / "harness.py",
                data,
                run / "original",
                settings,
                seed,
                args.models,
            )
        if "gvetool" in sides:
            folder = _gvetool_folder(run, args.sampler)
            result["gvetool"] = _run_gvetool(data / "cub", folder, args, seed)
        results.append(result)
    suffix = "" if args.sampler == "inverse-cdf" else f"-{args.sampler}"
    (work / f"peer-{args.dataset}{suffix}.json").write_text(json.dumps(results, indent=2))
    _print(results, args, sides)


def _checkout(source: Path, target: Path, python: Path) -> Path:
    """The original's files under ``target`` (from a checkout or a git directory).

    A snapshot may lack its largest files: the PTB tokenizer's CoreNLP jar is then taken
    from pycocoevalcap, which ships the same version (3.4.1).
    """
    if (target / "main.py").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    if (source / "main.py").is_file():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        git = ["git", "--git-dir", str(source)]
        listing = subprocess.run(
            [*git, "ls-tree", "-r", "HEAD"], check=True, capture_output=True, text=True
        ).stdout
        for line in listing.splitlines():
            meta, name = line.split("\t", 1)
            blob = subprocess.run([*git, "cat-file", "blob", meta.split()[2]], capture_output=True)
            if blob.returncode == 0:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                (target / name).write_bytes(blob.stdout)
    jar = target / "utils" / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    if not jar.is_file():
        find = "import os, pycocoevalcap.tokenizer.ptbtokenizer as t; print(t.__file__)"
        folder = subprocess.run(
            [str(python), "-c", find], check=True, capture_output=True, text=True, cwd=target
        ).stdout.strip()
        shutil.copy(Path(folder).parent / jar.name, jar)
    return target


def _venv(target: Path) -> Path:
    python = target / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *DEPENDENCIES], check=True)
    return python


def _dataset(name: str, root: Path) -> Path:
    """``root/cub``: the dataset, as both read it (the original wants ``<path>/cub``)."""
    folder = root / "cub"
    if not (folder / "classes.txt").is_file():
        if name in ("reef", "moths"):
            sys.path.insert(0, str(HERE))
            generator = __import__(name)
            generator.write(folder, 20, 30, 10, 512, seed=0)
        else:
            from gvetool.builtins.datasets.synth import SynthOptions, generate

            generate(folder, SynthOptions(feature_dim=512), force=True)
    return root


def _run_original(
    python: Path,
    original: Path,
    harness: Path,
    data: Path,
    run: Path,
    settings: list[str],
    seed: int,
    models: list[str],
) -> dict:
    """Train ``models`` (sc, LRCN, GVE) with the original; its per-epoch numbers and test
    sentences."""
    out: dict = {}
    sc = None

    def env_for(folder: Path) -> dict:
        return {
            **os.environ,
            "PEER_REWARDS": str(folder / "rewards.jsonl"),
            "PYTHONPATH": str(original),
            "PEER_ORIGINAL": str(original),
        }

    def common_for(model: str, folder: Path, sc: str | None) -> list[str]:
        common = [
            "--model",
            model,
            "--dataset",
            "cub",
            "--data-path",
            str(data),
            "--checkpoint-path",
            str(folder),
            "--num-workers",
            "0",
            "--torch-seed",
            str(seed),
            *settings,
        ]
        return [*common, "--sc-ckpt", str(sc)] if model == "gve" else common

    for model in models:
        folder = run / model
        done = folder / "done.json"
        if done.is_file():
            out[model] = json.loads(done.read_text())
            sc = out["sc"]["best"] if model == "sc" else sc
            if model != "sc" and "test_last" not in out[model]:  # finished before it existed
                out[model]["test_last"] = _original_last(
                    python, harness, folder, env_for(folder), common_for(model, folder, sc)
                )
                done.write_text(json.dumps(out[model]))
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        rewards = folder / "rewards.jsonl"
        env, common = env_for(folder), common_for(model, folder, sc)
        _call([str(python), str(harness), *common], original, env, folder / "train.log")
        (job,) = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(model)]
        entry: dict = {}
        if model != "sc":
            entry["val_cider"] = [
                json.loads((job / f"ckpt-e{e}-val-metrics-overall.json").read_text())["CIDEr"]
                for e in range(1, len(list(job.glob("ckpt-e*.pth"))) + 1)
            ]
        # The original links best-ckpt.pth only when CIDEr beats 0; otherwise its first
        # epoch, as gvetool's best.pt would be.
        link = job / "best-ckpt.pth"
        first_best = 1 + int(np.argmax(entry.get("val_cider", [0])))
        best = str(link.resolve() if link.exists() else job / f"ckpt-e{first_best}.pth")
        entry["best"] = best
        if model != "sc":
            evaluation = [*common, "--eval", best]
            _call([str(python), str(harness), *evaluation], folder, env, folder / "test.log")
            entry["test"] = _original_sentences(folder)
            entry["test_last"] = _original_last(python, harness, folder, env, common)
        if rewards.is_file():
            entry["reward"] = [float(x) for x in rewards.read_text().split()]
        done.write_text(json.dumps(entry))
        out[model] = entry
        sc = best if model == "sc" else sc
    return out


def _original_sentences(folder: Path) -> dict[str, str]:
    """The test sentences the original's evaluation wrote into ``folder``."""
    captions = json.loads((folder / "results-val-captions.json").read_text())
    return {str(c["image_id"]): c["caption"] for c in captions}


def _original_last(
    python: Path, harness: Path, folder: Path, env: dict, common: list[str]
) -> dict[str, str]:
    """The test sentences of the original's last epoch (its own folder: the evaluation
    writes its files where it runs)."""
    (job,) = [p for p in folder.iterdir() if (p / "ckpt-e1.pth").is_file()]  # the training's
    last = max(job.glob("ckpt-e*.pth"), key=lambda p: int(p.stem.split("-e")[1]))
    where = folder / "last"
    where.mkdir(exist_ok=True)
    _call([str(python), str(harness), *common, "--eval", str(last)], where, env, where / "test.log")
    return _original_sentences(where)


def _call(command: list[str], cwd: Path, env: dict, log: Path) -> None:
    with open(log, "w") as handle:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"{command[2:6]} failed ({done.returncode}); see {log}")


def _gvetool_folder(run: Path, sampler: str) -> Path:
    """Where gvetool's runs of a seed go. With ``--sampler categorical`` the sentence
    classifier and LRCN (which sample nothing) are copied from the default runs when
    those exist: the same seed trains the same weights."""
    if sampler == "inverse-cdf":
        return run / "gvetool"
    folder = run / f"gvetool-{sampler}"
    for model in ("sc", "lrcn"):
        if (run / "gvetool" / model).is_dir() and not (folder / model).is_dir():
            shutil.copytree(run / "gvetool" / model, folder / model)
    return folder


def _categorical_words(logits: torch.Tensor, generator: object = None) -> torch.Tensor:
    """The original's draw: ``torch.distributions.Categorical(logits=...).sample()``."""
    from torch.distributions import Categorical

    return Categorical(logits=logits.float()).sample()


def _run_gvetool(root: Path, out: Path, args: argparse.Namespace, seed: int) -> dict:
    """The same three runs with gvetool's CLI; per-epoch numbers and test sentences."""
    import gvetool.nn.decoding as decoding
    from gvetool.cli import main as gvetool

    if args.sampler == "categorical":
        decoding.draw_words = _categorical_words

    os.environ.setdefault("GVETOOL_QUIET", "1")
    common = [
        "--dataset",
        "cub",
        "--data-root",
        str(root),
        "--epochs",
        str(args.epochs),
        "--hidden-size",
        str(args.hidden_size),
        "--embedding-size",
        str(args.hidden_size),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        str(seed),
        "--val-metrics",
        "cider",
        "--device",
        args.device,
    ]
    result: dict = {}
    for model in args.models:
        folder = out / model
        runs = sorted(folder.glob(f"{model}-cub-*"))
        if not runs or not _trained(runs[-1], args.epochs):
            if runs and (runs[-1] / "last.pt").is_file():  # interrupted (a session ended)
                command = [
                    "train",
                    model,
                    "--resume",
                    str(runs[-1]),
                    "--epochs",
                    str(args.epochs),
                    "--device",
                    args.device,
                ]
            else:
                command = ["train", model, *common, "--out", str(folder)]
                if model == "gve":
                    command += ["--sc-ckpt", str(Path(result["sc"]["run"]) / "best.pt")]
            if gvetool(command) != 0:
                raise SystemExit(f"gvetool train {model} failed")
            runs = sorted(folder.glob(f"{model}-cub-*"))
        run = runs[-1]
        history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        entry: dict = {"run": str(run)}
        if model != "sc":
            entry["val_cider"] = [h["val"]["CIDEr"] for h in history]
            if model == "gve":
                entry["reward"] = [h["train"]["reward"] for h in history]
            entry["test"] = _gvetool_sentences(gvetool, run / "best.pt", run, args.device)
            entry["test_last"] = _gvetool_sentences(
                gvetool, run / "last.pt", run / "last-test", args.device
            )
        result[model] = entry
    return result


def _gvetool_sentences(gvetool: Any, checkpoint: Path, out: Path, device: str) -> dict[str, str]:
    """The test sentences of ``checkpoint``, described by ``gvetool eval`` into ``out``."""
    evaluation = ["eval", str(checkpoint), "--split", "test", "--force", "--device", device]
    if out != checkpoint.parent:
        evaluation += ["--out", str(out)]
    if gvetool(evaluation) != 0:
        raise SystemExit(f"gvetool eval {checkpoint} failed")
    predictions = json.loads((out / "predictions" / "test.json").read_text())
    return {p["image_id"]: p["caption"] for p in predictions}


def _trained(run: Path, epochs: int) -> bool:
    """Whether a gvetool run finished its epochs: an interrupted one has a ``best.pt``
    too, from the epochs it did, and must be resumed rather than taken as done."""
    history = run / "metrics.jsonl"
    return history.is_file() and len(history.read_text().splitlines()) >= epochs


def _scores(root: Path, sentences: dict[str, str]) -> dict[str, float]:
    """The test measures of one side's sentences, computed the same way for both: the
    metric plugins gvetool eval uses, on the test split's references and classes."""
    from gvetool.builtins.datasets.cub import open_cub
    from gvetool.evaluation.evaluate import training_captions
    from gvetool.evaluation.scoring import Scorer, scoring_input

    corpus = open_cub(root)
    test = corpus.split("test")
    ordered = [sentences[i] for i in test.image_ids]
    scorer = Scorer(("cider", "judge", "repetition"))
    try:
        scoring = scoring_input(
            ordered,
            test.captions,
            True,
            scorer.needs,
            class_ids=test.class_ids,
            class_names=list(corpus.class_names or []),
            load_training=lambda: training_captions(corpus.split("train")),
        )
        totals = scorer.score(scoring).totals
    finally:
        scorer.close()
    return {key: totals[key] for key in MEASURES}


def _print(results: list[dict], args: argparse.Namespace, sides: list[str]) -> None:
    root = args.work.resolve() / "data" / args.dataset / "cub"

    def spread(values: list[float]) -> str:
        array = np.asarray(values, dtype=np.float64)
        return f"{array.mean():.3f} ± {array.std(ddof=1) if len(array) > 1 else 0:.3f}"

    print(
        f"\n{args.dataset}, {len(results)} seeds, {args.epochs} epochs, hidden "
        f"{args.hidden_size}: mean ± std over seeds"
    )
    captioners = [m for m in ("lrcn", "gve") if m in args.models]
    for key, label in (("reward", "GVE train reward"), ("val_cider", "GVE val CIDEr")):
        if "gve" not in captioners:
            break
        print(f"\n{label:18}" + "".join(f"{'epoch ' + str(e + 1):>26}" for e in range(args.epochs)))
        for side in sides:
            rows = [r[side]["gve"][key] for r in results]
            cells = "".join(f"{spread([row[e] for row in rows]):>26}" for e in range(args.epochs))
            print(f"{side:18}{cells}")
    for key, label in (("test", "test (best.pt)"), ("test_last", "test (last epoch)")):
        print(f"\n{label:22}" + "".join(f"{header:>18}" for header in HEADERS))
        for side in sides:
            for model in captioners:
                scored = [_scores(root, r[side][model][key]) for r in results]
                cells = "".join(f"{spread([s[k] for s in scored]):>18}" for k in MEASURES)
                print(f"{side + ' ' + model:22}{cells}")
                for seed, scores in zip(args.seeds.split(","), scored, strict=True):
                    cells = "".join(f"{scores[k]:>18.3f}" for k in MEASURES)
                    print(f"{'  seed ' + seed:22}{cells}")


if __name__ == "__main__":
    main()
