"""Transfer between the two halves of a class split: classes, vocabulary, freezing, reward."""

from __future__ import annotations

import pytest
import torch

from gvetool.cli import main
from gvetool.data.vocab import Vocabulary
from gvetool.engine.checkpoint import load_checkpoint
from gvetool.engine.transfer import token_map, transfer_vocabulary

from .test_train import _one_line

SMALL = [
    "--hidden-size",
    "8",
    "--embedding-size",
    "8",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--val-metrics",
    "bleu,cider",
]


@pytest.fixture(scope="module")
def halves(tiny_cub_master, tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer")
    runs = {}
    for model, dataset in (("sc", "cub1"), ("gve", "cub1"), ("lrcn", "cub1"), ("sc", "cub2")):
        args = [
            "train",
            model,
            "--dataset",
            dataset,
            "--data-root",
            str(tiny_cub_master),
            "--out",
            str(out),
        ]
        assert main([*args, *SMALL]) == 0
        runs[f"{model}-{dataset}"] = next(out.glob(f"{model}-{dataset}-*"))
    return out, runs


def _transfer(tiny_cub_master, halves, source, *extra):
    out, runs = halves
    args = ["transfer", str(runs[source]), "--dataset", "cub2", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--out", str(out / source), *extra]) == 0
    return next((out / source).glob("*-cub2-*"))


def test_gve_transfer_resizes_classes_extends_vocabulary_and_freezes(
    tiny_cub_master, halves, capsys
):
    target_sc = str(halves[1]["sc-cub2"] / "best.pt")
    extra = ["--vocab", "extend", "--freeze", "all-but-output", "--sc-ckpt", target_sc]
    run = _transfer(tiny_cub_master, halves, "gve-cub1", *extra)
    source = load_checkpoint(halves[1]["gve-cub1"] / "best.pt")
    target = load_checkpoint(run / "last.pt")
    assert target["class_names"] != source["class_names"] and len(target["class_names"]) == 2
    assert target["state_dict"]["lstm2_class.weight"].shape[0] == 2
    assert target["vocabulary"][: len(source["vocabulary"])] == source["vocabulary"]
    for key in ("lstm1.weight_hh", "image.weight", "lstm2_image.weight"):  # frozen
        assert torch.equal(target["state_dict"][key], source["state_dict"][key])
    assert not torch.equal(
        target["state_dict"]["out.bias"][:4], source["state_dict"]["out.bias"][:4]
    )
    assert "of the training tokens are unknown to it" in capsys.readouterr().err


def test_lrcn_transfer_keeps_the_source_vocabulary(tiny_cub_master, halves):
    run = _transfer(tiny_cub_master, halves, "lrcn-cub1", "--vocab", "source")
    assert (
        load_checkpoint(run / "last.pt")["vocabulary"]
        == load_checkpoint(halves[1]["lrcn-cub1"] / "best.pt")["vocabulary"]
    )


def _args(halves, tiny_cub_master, source: str, out: str) -> list[str]:
    directory, runs = halves
    return [
        "transfer",
        str(runs[source]),
        "--dataset",
        "cub2",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(directory / out),
    ]


def test_transfer_from_a_sentence_classifier_is_refused(tiny_cub_master, halves, capsys):
    assert main(_args(halves, tiny_cub_master, "sc-cub1", "x")) == 1
    assert (
        "is a 'sc' checkpoint; transfer starts from a captioner (definition, explanation-"
        in _one_line(capsys)
    )


def test_target_classifier_of_other_classes_is_refused(tiny_cub_master, halves, capsys):
    wrong_sc = str(halves[1]["sc-cub1"] / "best.pt")
    assert main([*_args(halves, tiny_cub_master, "gve-cub1", "y"), "--sc-ckpt", wrong_sc]) == 1
    assert "was trained on another class set" in _one_line(capsys)


def test_vocabulary_modes_and_token_map():
    source = ["<pad>", "<start>", "<end>", "<unk>", "red", "bird"]
    vocab, unknown = transfer_vocabulary(
        source, [["red", "bird"], ["blue", "bird", "blue"]], "extend", 1
    )
    assert vocab.words[6:] == ("blue",) and unknown == 0.0
    vocab, unknown = transfer_vocabulary(
        source, [["red", "bird"], ["blue", "bird", "blue"]], "source", 1
    )
    assert unknown == pytest.approx(2 / 5)
    mapping = token_map(
        Vocabulary(("<pad>", "<start>", "<end>", "<unk>", "red", "blue")), Vocabulary(tuple(source))
    )
    assert mapping.tolist() == [0, 1, 2, 3, 4, 3]


def test_bad_freeze_choice(tiny_cub_master, halves, capsys):
    assert main([*_args(halves, tiny_cub_master, "lrcn-cub1", "z"), "--freeze", "everything"]) == 1
    assert (
        "--freeze must be one of none, embeddings, lstm, all-but-output for 'lrcn', "
        "got 'everything'" in _one_line(capsys)
    )


def test_a_transferred_checkpoint_evaluates(tiny_cub_master, halves, tmp_path):
    run = _transfer(tiny_cub_master, halves, "lrcn-cub1", "--vocab", "extend")
    assert main(["eval", str(run), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "metrics.json").is_file()
