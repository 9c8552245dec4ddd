"""``gvetool data`` from the command line: outputs and one-line errors."""

from __future__ import annotations

import json

import pytest

from gvetool.builtins.datasets import cub
from gvetool.cli import main
from gvetool.utils.errors import GvetoolError


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in err
    return lines[0]


def test_synth_then_info(tmp_path, capsys):
    out = tmp_path / "birds"
    args = ["data", "synth", str(out), "--classes", "3", "--images-per-class", "4"]
    assert main([*args, "--captions-per-image", "2", "--feature-dim", "8"]) == 0
    assert "wrote 12 images, 24 captions, 3 classes (cub layout)" in capsys.readouterr().out
    assert main(["data", "info", "--dataset", "cub", "--data-root", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == 3 and report["feature_dim"] == 8
    assert sum(s["images"] for s in report["splits"].values()) == 12
    assert report["splits"]["train"]["captions"] == 2 * report["splits"]["train"]["images"]
    assert report["vocabulary"] > 4
    assert main(["data", "info", "--dataset", "synth", "--data-root", str(out)]) == 0
    text = capsys.readouterr().out
    assert "features: 8-d" in text and "vocabulary (train, min-count 1)" in text


def test_info_on_a_broken_layout_is_one_line(tiny_cub, capsys):
    (tiny_cub / "CUB_label_dict.p").unlink()
    (tiny_cub / "test.txt").unlink()
    assert main(["data", "info", "--dataset", "cub", "--data-root", str(tiny_cub)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "missing CUB_label_dict.p, test.txt" in line


def test_unknown_dataset_is_one_line_listing_known_ones(capsys):
    assert main(["data", "info", "--dataset", "cubb"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    # Installed plugin packages add datasets of their own; the built-ins must all be listed.
    assert line.startswith("error: unknown dataset 'cubb'; known datasets: coco, ")
    for name in ("cub", "cub1", "cub2", "synth"):
        assert f" {name}," in line or f" {name}." in line
    assert line.endswith("Did you mean 'cub'?")


def test_prepare_cub(tiny_cub, capsys):
    for split in cub.SPLITS:
        (tiny_cub / cub.descriptions_file(split)).unlink()
    assert main(["data", "prepare", "cub", "--data-root", str(tiny_cub)]) == 0
    assert "skipped: 20" in capsys.readouterr().out
    assert (tiny_cub / "descriptions_bird.val.fg.json").is_file()


def test_prepare_of_a_dataset_without_a_prepare_step(tmp_path, capsys):
    assert main(["data", "prepare", "coco", "--data-root", str(tmp_path)]) == 1
    assert "dataset 'coco' has no prepare step" in _one_error_line(capsys.readouterr().err)


def test_synth_refuses_to_overwrite(tiny_cub, capsys):
    assert main(["data", "synth", str(tiny_cub)]) == 1
    assert "pass --force" in _one_error_line(capsys.readouterr().err)


DATASET_TOOLS = """
import typer
from gvetool.plugin_api import DatasetSpec, hookimpl

def count(n: int = typer.Option(2, help="How many.")):
    print("counted", n)

@hookimpl
def gvetool_register_datasets(register):
    register(DatasetSpec(name="counted", description="d", target="x:y", command=count))
    register(DatasetSpec(name="info", description="d", target="x:y", command=count))
    register(DatasetSpec(name="gone", description="d", target="x:y", command="nowhere:tool"))
"""


def test_a_dataset_brings_its_own_data_command(fake_dist, capsys):
    fake_dist("tools-plugin", "tools_plugin", DATASET_TOOLS)
    assert main(["data", "counted", "--n", "3"]) == 0
    captured = capsys.readouterr()
    assert "counted 3" in captured.out
    assert "dataset 'info' brings a command, but `gvetool data info` already exists" in (
        captured.err
    )
    assert "dataset 'gone' command step could not be loaded from nowhere:tool" in captured.err


def test_generate_step_takes_keyword_options_and_refuses_unknown_ones(tmp_path, capsys):
    from gvetool.kernel.manager import get_plugins

    generate = get_plugins().datasets.get("synth").load_step("generate")
    counts = generate(
        tmp_path / "d", classes=2, images_per_class=3, captions_per_image=1, feature_dim=4
    )
    assert counts == {"images": 6, "captions": 6, "classes": 2}
    with pytest.raises(GvetoolError, match=r"unknown synth option.s. clases; known: "):
        generate(tmp_path / "e", clases=2)
