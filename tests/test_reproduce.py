"""gvetool reproduce: the paper's five models, one table, resumable."""

from __future__ import annotations

import json

from gvetool.cli import main

from .test_train import _one_line

TINY_RUN = [
    "--epochs",
    "1",
    "--hidden-size",
    "16",
    "--embedding-size",
    "16",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
]


def _reproduce(root, out, config, *extra):
    config.write_text('val_metrics = "cider"\n')
    args = ["reproduce", "--dataset", "cub", "--data-root", str(root), "--out", str(out)]
    return main([*args, "--config", str(config), *TINY_RUN, *extra])


def test_reproduce_trains_and_tables_the_five_models_and_a_rerun_trains_nothing(
    tiny_cub_master, tmp_path, capsys
):
    out, config = tmp_path / "runs", tmp_path / "run.toml"
    assert _reproduce(tiny_cub_master, out, config) == 0
    directory = out / "reproduce-cub-seed0"
    table = json.loads((directory / "table.json").read_text())
    assert [row["model"] for row in table["rows"]] == [
        "description",
        "definition",
        "explanation-label",
        "explanation-discriminative",
        "explanation",
    ]
    assert [row["plugin"] for row in table["rows"]][::4] == ["lrcn", "gve"]
    for row in table["rows"]:
        for column in ("CIDEr", "class_similarity", "class_rank", "judge_top1"):
            assert isinstance(row[column], float), (row["model"], column)
    markdown = (directory / "table.md").read_text()
    assert "| explanation-discriminative |" in markdown and "judge_top1" in markdown
    assert (directory / "report.html").is_file()
    runs = sorted(p.name for p in directory.glob("*/*-cub-*"))
    assert len(runs) == 6  # the sentence classifier and the five models
    capsys.readouterr()
    assert _reproduce(tiny_cub_master, out, config) == 0
    assert "already trained" in capsys.readouterr().err
    assert sorted(p.name for p in directory.glob("*/*-cub-*")) == runs
    assert _reproduce(tiny_cub_master, out, config, "--metrics", "cider,repetition") == 0
    table = json.loads((directory / "table.json").read_text())  # the chosen metrics' columns
    assert table["columns"] == ["CIDEr", "repeated_trigram_share", "distinct_sentences"]
    assert "judge_top1" not in table["rows"][0] and "class_similarity" not in table["rows"][0]


def test_reproduce_refuses_an_unknown_model(tiny_cub_master, tmp_path, capsys):
    code = _reproduce(tiny_cub_master, tmp_path, tmp_path / "c.toml", "--models", "lrcn,gvee")
    assert code == 1
    assert "unknown model 'gvee' for reproduce" in _one_line(capsys)
