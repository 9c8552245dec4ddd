"""gvetool from Python: train, evaluate and explain with typed results, silently."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gvetool
from gvetool.builtins.metrics.captions import spice_models
from gvetool.cli import main
from gvetool.data.photos import encode_images

from .conftest import LIBRARY_SIZES as SIZES

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the tokenizer needs Java")


def test_train_returns_the_run_with_its_files_and_history(runs):
    gve = runs["gve"]
    assert isinstance(gve, gvetool.Run) and gve.model == "gve" and gve.dataset == "cub"
    assert gve.best == gve.directory / "best.pt" and gve.last.is_file()
    assert gve.state == "finished" and gve.epochs_done == 1 and len(gve.history) == 1
    assert gve.best_metric == "CIDEr" and isinstance(gve.best_score, float)
    assert gvetool.Run.open(gve.directory) == gve


@needs_java
def test_nothing_is_printed_unless_progress_is_asked(runs, home, capfd, monkeypatch):
    monkeypatch.delenv("GVETOOL_QUIET")  # as in a notebook: a terminal, progress allowed
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = gvetool.evaluate(runs["gve"].best, split="test", write=False)
        explainer = gvetool.load(runs["gve"].directory)
        explainer.explain(["001.Brown_crowned_Shrike/Brown_Crowned_Shrike_0001_100000.jpg"])
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""  # Java's and torch's output included
    assert isinstance(result, gvetool.Evaluation) and result.metrics["CIDEr"] >= 0
    assert {"judge_top1", "explanation_top1", "class_rank"} <= set(result.metrics)
    explainer.explain(
        ["001.Brown_crowned_Shrike/Brown_Crowned_Shrike_0001_100000.jpg"], progress=True
    )
    assert "explaining" in capfd.readouterr().err


@needs_java
def test_evaluate_writes_what_gvetool_eval_writes(runs, home, tmp_path):
    result = gvetool.evaluate(runs["gve"].best, split="val", out=tmp_path)
    assert result.report == tmp_path / "report.html" and result.report.is_file()
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "predictions/val.json").is_file()
    with pytest.raises(gvetool.GvetoolError, match="--force"):  # other settings, same files
        gvetool.evaluate(runs["gve"].best, split="val", out=tmp_path, beam=2)


def test_explanations_are_typed_and_name_their_classes(runs, home, tiny_cub_master):
    explainer = gvetool.load(runs["gve"].best)
    assert explainer.model == "gve" and explainer.class_conditioned
    image = "002.Green_crowned_Shrike/Green_Crowned_Shrike_0001_100005.jpg"
    [as_true] = explainer.explain([image])
    assert isinstance(as_true, gvetool.Explanation) and as_true.image == image
    assert as_true.true_class == as_true.explained_class == "002.Green_crowned_Shrike"
    assert as_true.classifier_class in explainer.class_names  # the run's classifier read it
    [as_other] = explainer.explain([image], classes="Red crowned Shrike")
    assert as_other.explained_class == "003.Red_crowned_Shrike"
    assert as_other.true_class == "002.Green_crowned_Shrike"
    [counter] = explainer.counterfactual([image])
    assert isinstance(counter, gvetool.Counterfactual) and counter.explanation == as_true.sentence
    assert counter.counter_class != counter.true_class
    [description] = explainer.describe([image])
    assert description.sentence == as_true.sentence


def test_a_photo_gets_the_feature_store_vector_and_the_same_explanation(
    runs, home, tiny_cub_master, tmp_path
):
    image = "003.Red_crowned_Shrike/Red_Crowned_Shrike_0001_100010.jpg"
    photo = tmp_path / "photo.png"  # the dataset's JPEG, saved losslessly as a PNG file
    with Image.open(tiny_cub_master / "images" / image) as jpeg:
        jpeg.save(photo)
        in_memory = jpeg.convert("RGB")
    explainer = gvetool.load(runs["cnn"].best)
    assert explainer.encodes_photos
    store = explainer._dataset().images.store
    stored = store.gather(store.rows([image]))
    encoded = encode_images(explainer._photo_encoder(), [photo, in_memory])
    np.testing.assert_allclose(encoded.numpy(), np.repeat(stored, 2, 0), rtol=1e-4, atol=1e-5)
    [by_id] = explainer.explain([image])
    by_file, by_pil = explainer.explain(images=[photo, in_memory], classes=by_id.true_class)
    assert by_file.sentence == by_pil.sentence == by_id.sentence
    assert by_file.image == str(photo) and by_file.true_class is None


def test_explain_accepts_image_files_from_the_shell(runs, home, tiny_cub_master, tmp_path, capsys):
    image = "001.Brown_crowned_Shrike/Brown_Crowned_Shrike_0001_100000.jpg"
    photo = tmp_path / "some.png"
    Image.open(tiny_cub_master / "images" / image).save(photo)
    args = ["explain", str(runs["cnn"].best), image, str(photo), "--class", "Brown crowned Shrike"]
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr().out
    assert str(photo) in out and image in out  # both, in the order given


def test_a_photo_is_refused_in_one_line_for_a_run_on_shipped_features(runs, home, tmp_path, capsys):
    photo = tmp_path / "some.png"
    Image.new("RGB", (8, 8)).save(photo)
    assert main(["explain", str(runs["gve"].best), str(photo), "--class", "001"]) == 1
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "cannot be computed for a photo" in line
    assert "--encoder" in line


def test_an_unreadable_image_file_is_named_in_one_line(runs, home, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main(["explain", str(runs["cnn"].best), str(bad), "--class", "001"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: cannot read image {bad}: not an image Pillow can read"
    )
    with pytest.raises(gvetool.DataError, match="image 0 is a tensor of shape"):
        gvetool.load(runs["cnn"].best).explain(images=[torch.zeros(2, 2)], classes="001")


def test_a_photo_without_a_class_is_refused_for_a_class_conditioned_model(runs, home, tmp_path):
    with pytest.raises(gvetool.GvetoolError, match="a photo has no known class"):
        gvetool.load(runs["cnn"].best).explain(images=[Image.new("RGB", (8, 8))])


def test_user_errors_raise_the_clis_message_not_system_exit(runs, tmp_path, capsys):
    cases = [
        (
            lambda: gvetool.load(tmp_path / "nowhere.pt"),
            gvetool.CheckpointError,
            ["explain", str(tmp_path / "nowhere.pt"), "x"],
        ),
        (
            lambda: gvetool.evaluate(runs["sc"].best),
            gvetool.CheckpointError,
            ["eval", str(runs["sc"].best)],
        ),
        (
            lambda: gvetool.train("nope", dataset="cub"),
            gvetool.UnknownNameError,
            ["train", "nope", "--dataset", "cub"],
        ),
    ]
    for call, kind, argv in cases:
        with pytest.raises(kind) as caught:
            call()
        assert main(argv) == 1
        assert capsys.readouterr().err.strip() == f"error: {caught.value}"
    with pytest.raises(gvetool.ConfigError, match="did you mean 'hidden_size'"):
        gvetool.train("lrcn", dataset="cub", hidden_sise=8)


def test_the_registries_are_listed_by_name():
    assert {"lrcn", "gve", "sc"} <= set(gvetool.list_models())
    assert {"cub", "coco", "synth"} <= set(gvetool.list_datasets())
    assert {"precomputed", "resnet18"} <= set(gvetool.list_encoders())


def test_generate_dataset_writes_data_train_can_use(tmp_path):
    root = gvetool.generate_dataset(
        "synth",
        tmp_path / "birds",
        classes=2,
        images_per_class=3,
        captions_per_image=1,
        image_size=16,
        feature_dim=4,
    )
    assert root == tmp_path / "birds" and (root / "classes.txt").is_file()
    assert gvetool.runs(tmp_path / "no-runs") == []


def test_importing_gvetool_stays_free(tmp_path):
    import subprocess

    code = "import sys, gvetool; gvetool.GvetoolError; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert Path(gvetool.__file__).name == "__init__.py"


def test_ctrl_c_stops_training_after_its_step_and_the_run_resumes(
    tiny_cub_master, tmp_path, monkeypatch
):
    import signal

    from gvetool.engine.trainer import Trainer

    real_step = Trainer.step
    calls = []

    def interrupted_step(self, batch):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # as a notebook's interrupt button sends it
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "step", interrupted_step)
    options = {"dataset": "cub", "data_root": tiny_cub_master, "out": tmp_path, **SIZES}
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(gvetool.Interrupted, match="stopped at epoch 1, step 1") as caught:
        gvetool.train("lrcn", **options)
    run_dir = Path(str(caught.value).split("continue with: gvetool train --resume ")[1])
    assert (run_dir / "last.pt").is_file()
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's Ctrl-C is given back
    monkeypatch.setattr(Trainer, "step", real_step)
    run = gvetool.train(resume=run_dir)
    assert run.state == "finished" and run.best is not None


def test_transfer_returns_the_new_run(runs, home, tiny_cub_master, tmp_path):
    run = gvetool.transfer(
        runs["gve"].best,
        dataset="cub",
        data_root=tiny_cub_master,
        out=tmp_path,
        epochs=1,
        sc_ckpt=runs["sc"].best,
        freeze="embeddings",
    )
    assert run.model == "gve" and run.directory.parent == tmp_path and run.best is not None


def test_no_public_name_is_shadowed_by_a_submodule():
    import pkgutil

    modules = {module.name for module in pkgutil.iter_modules(gvetool.__path__)}
    # Importing such a submodule would replace the name; gvetool.study is the one name
    # that is its submodule on purpose (gvetool.study.make, gvetool.study.score).
    assert modules & set(gvetool.__all__) == {"study"}
    assert gvetool.study is importlib.import_module("gvetool.study")
    assert callable(gvetool.reproduce) and callable(gvetool.run_demo)


def test_data_commands_from_python(tiny_cub_master, tmp_path):
    info = gvetool.dataset_info("cub", data_root=tiny_cub_master)
    assert info["classes"] == 4 and info["feature_dim"] == 16
    assert set(info["splits"]) == {"train", "val", "test"}
    path = gvetool.split_classes("cub", data_root=tiny_cub_master, out=tmp_path / "split.json")
    run = gvetool.train(
        "lrcn",
        dataset="cub",
        data_root=tiny_cub_master,
        out=tmp_path,
        class_split=f"{path}:1",
        **SIZES,
    )
    assert run.best is not None
    store = gvetool.compute_features(
        "cub", "resnet18", encoder_weights="none", data_root=tiny_cub_master, cache_dir=tmp_path
    )
    assert isinstance(store, gvetool.FeatureStoreInfo) and store.images == 20 and store.dim == 512
    with pytest.raises(gvetool.GvetoolError, match="has no prepare step"):
        gvetool.prepare_dataset("synth", tmp_path)


def test_sigterm_stops_training_as_ctrl_c_does_and_exits_143(tiny_cub_master, tmp_path, capsys):
    """Schedulers (SLURM preemption, Kubernetes, ``timeout``) stop a job with SIGTERM: the
    step finishes, ``last.pt`` is saved and the exit says how to resume."""
    import signal

    from gvetool.engine.trainer import Trainer

    real_step = Trainer.step
    calls = []

    def terminated_step(self, batch):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGTERM)
        return real_step(self, batch)

    handler = signal.getsignal(signal.SIGTERM)
    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    args += ["--out", str(tmp_path), "--epochs", "1", "--hidden-size", "8"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "step", terminated_step)
        assert main([*args, "--embedding-size", "8", "--batch-size", "8"]) == 143
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: stopped at epoch 1, step 1") and "Traceback" not in err
    run_dir = Path(err.split("continue with: gvetool train --resume ")[1])
    assert (run_dir / "last.pt").is_file()
    assert signal.getsignal(signal.SIGTERM) is handler
    assert gvetool.train(resume=run_dir).state == "finished"


def test_a_sigterm_ignored_by_the_launcher_stays_ignored_during_training():
    import signal

    from gvetool.engine.interrupt import GracefulStop

    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with GracefulStop(enabled=True):
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGINT) != signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_explainer_says_what_it_holds(runs, home):
    explainer = gvetool.load(runs["gve"].best)
    assert repr(explainer) == (
        f"Explainer(run={str(runs['gve'].directory)!r}, model='gve', dataset='cub', "
        f"classes={len(explainer.class_names)})"
    )


def test_an_unknown_class_is_an_unknown_name_with_the_closest_ones(runs, home, tiny_cub_master):
    from gvetool.builtins.datasets.cub import open_cub

    image = open_cub(tiny_cub_master).split("test").image_ids[0]
    explainer = gvetool.load(runs["gve"].best)
    name = explainer.class_names[1]
    with pytest.raises(gvetool.UnknownNameError, match=f"did you mean {name!r}"):
        explainer.explain([image], classes=name[4:-1])


@pytest.mark.skipif(spice_models() is None, reason="SPICE runs here: nothing to warn about")
def test_a_warning_from_the_api_points_at_the_callers_line(runs, home, tmp_path):
    """Python warnings name the user's file and line, not gvetool's console module."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gvetool.evaluate(runs["gve"].best, metrics="spice", write=False)  # no SPICE models here
    spice = [w for w in caught if "spice" in str(w.message)]
    assert spice and all(Path(w.filename) == Path(__file__) for w in spice)


def test_a_run_that_fails_before_its_first_checkpoint_is_listed_as_failed_with_why(
    tiny_cub_master, tmp_path, capsys
):
    from gvetool.engine.trainer import Trainer

    def broken_step(self, batch):
        raise RuntimeError("the GPU fell off the bus")

    args = ["train", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    args += ["--out", str(tmp_path), "--epochs", "1", "--hidden-size", "8", "--embedding-size", "8"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "step", broken_step)
        assert main(args) == 70
    (run,) = gvetool.runs(tmp_path)
    assert run.state == "failed"
    capsys.readouterr()
    assert main(["runs", "--out", str(tmp_path), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["state"] == "failed"
    assert listed["detail"] == "RuntimeError: the GPU fell off the bus"
    assert main(["runs", "--out", str(tmp_path)]) == 0
    assert "failed" in capsys.readouterr().out
