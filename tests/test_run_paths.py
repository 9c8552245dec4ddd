"""Runs name what they read by absolute paths, and still work after a move."""

from __future__ import annotations

import shutil

from gvetool.builtins.datasets import cub
from gvetool.cli import main
from gvetool.engine.checkpoint import load_checkpoint

from .test_train import SMALL, _one_line


def _project(tmp_path, tiny_cub_master, monkeypatch, *models: str):
    """A project folder with its data and runs, trained with relative paths from inside."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(tiny_cub_master, project / "birds")
    monkeypatch.chdir(project)
    runs = {}
    for model in models:
        args = ["train", model, "--dataset", "cub", "--data-root", "birds", "--out", "runs"]
        assert main([*args, *SMALL, "--epochs", "1"]) == 0
        (runs[model],) = (project / "runs").glob(f"{model}-cub-*")
    return project, runs


def test_config_and_checkpoint_keep_absolute_paths(tiny_cub_master, tmp_path, monkeypatch):
    project, runs = _project(tmp_path, tiny_cub_master, monkeypatch, "sc", "gve")
    config = (runs["gve"] / "config.toml").read_text()
    assert f'data_root = "{project / "birds"}"' in config
    assert f'out = "{project / "runs"}"' in config
    assert f'sc_ckpt = "{runs["sc"] / "best.pt"}"' not in config  # found, not given
    saved = load_checkpoint(runs["gve"] / "best.pt")
    assert saved["config"]["data_root"] == str(project / "birds")
    assert saved["sentence_classifier"] == str(runs["sc"] / "best.pt")
    monkeypatch.chdir(tmp_path)  # elsewhere: the run still finds its data and classifier
    assert main(["eval", str(runs["gve"] / "best.pt"), "--split", "test"]) == 0
    assert "explanation_top1" in (runs["gve"] / "metrics.json").read_text()


def test_a_moved_project_finds_its_data_and_classifier_beside_the_run(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    project, runs = _project(tmp_path, tiny_cub_master, monkeypatch, "sc", "gve")
    moved = tmp_path / "elsewhere" / "copy"
    moved.parent.mkdir()
    shutil.move(project, moved)
    monkeypatch.chdir(tmp_path)
    gve = moved / "runs" / runs["gve"].name
    assert main(["eval", str(gve), "--split", "test"]) == 0
    assert "no sentence classifier found" not in capsys.readouterr().err
    assert '"explanation_top1"' in (gve / "metrics.json").read_text()
    image_id = cub.open_cub(moved / "birds").split("test").image_ids[0]
    assert main(["explain", str(gve / "best.pt"), image_id]) == 0
    assert main(["train", "--resume", str(gve), "--epochs", "2"]) == 0
    config = (gve / "config.toml").read_text()
    assert f'data_root = "{moved / "birds"}"' in config and f'out = "{moved / "runs"}"' in config


def test_missing_data_names_the_paths_tried_and_the_fix(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    project, runs = _project(tmp_path, tiny_cub_master, monkeypatch, "lrcn")
    shutil.rmtree(project / "birds")
    capsys.readouterr()
    assert main(["eval", str(runs["lrcn"] / "best.pt")]) == 1
    assert _one_line(capsys) == (
        f"error: the 'cub' data this run was trained on is not at {project / 'birds'} "
        f"(nor at {project / 'birds'}, beside the run); pass --data-root with its folder"
    )


def test_eval_of_a_run_directory_finds_the_classifier_as_its_checkpoint_does(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    _, runs = _project(tmp_path, tiny_cub_master, monkeypatch, "sc", "lrcn")
    capsys.readouterr()
    assert main(["eval", str(runs["lrcn"])]) == 0
    assert "no sentence classifier found" not in capsys.readouterr().err
    assert '"explanation_top1"' in (runs["lrcn"] / "metrics.json").read_text()
