"""Evaluation: beam search, class relevance against pycocoevalcap, eval outputs, bad input."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from gvetool.builtins.models.gve import GVE
from gvetool.cli import main
from gvetool.data.vocab import Vocabulary
from gvetool.evaluation.relevance import class_rank, class_similarity, top_k_accuracy

from .test_train import _one_line, _train


def _pycocoevalcap_class_cider(candidate: str, classes: list[list[str]]) -> np.ndarray:
    """The definition: pycocoevalcap's CIDEr-D with each class's references as one image."""
    from pycocoevalcap.cider.cider import Cider

    ids = range(len(classes))
    _, scores = Cider().compute_score({c: classes[c] for c in ids}, {c: [candidate] for c in ids})
    return np.asarray(scores)


def test_class_similarity_is_pycocoevalcaps_cider_d_against_each_classs_references():
    # Repeated n-grams (clipping acts) and unequal lengths (the penalty acts), classes
    # of unequal size spread over several images, a candidate n-gram no reference has.
    references = [
        ["a red bird with red wings and a red crown", "the small bird has grey tail"],
        ["a green bird with long bill", "this bird has white chest feathers and a green back"],
        ["a red bird with short bill"],
        ["a blue bird with red crown red crown", "blue", "a bird"],
    ]
    classes = [0, 1, 0, 2]
    candidates = [
        "a red bird with red red red wings",
        "a green bird",
        "this small bird has a grey tail and a white chest and a green green back and wings",
        "purple zebra",
        "",
    ]
    tokens = [c.split() for c in candidates]
    similarity = class_similarity(
        tokens, [[r.split() for r in refs] for refs in references], classes, 3, chunk=2
    )
    per_class = [
        [r for refs, c in zip(references, classes, strict=True) if c == k for r in refs]
        for k in range(3)
    ]
    for row, candidate in enumerate(candidates):
        expected = _pycocoevalcap_class_cider(candidate, per_class)
        np.testing.assert_allclose(similarity[row], expected, rtol=1e-10, atol=1e-12)
    assert similarity[0].argmax() == 0 and similarity[1].argmax() == 1


def test_a_class_without_references_scores_zero_and_is_no_idf_document():
    references = [[["a", "red", "bird"]], [["a", "blue", "bird"]]]
    with_empty = class_similarity([["a", "red", "bird"]], references, [0, 2], 3)
    without = class_similarity([["a", "red", "bird"]], references, [0, 1], 2)
    assert with_empty[0, 1] == 0
    np.testing.assert_allclose(with_empty[0, [0, 2]], without[0])


def test_class_rank_and_top_k():
    similarity = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.2], [0.1, 0.3, 0.2]])
    assert class_rank(similarity, [0, 1, 2]).tolist() == [1.0, 2.0, 2.0]
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    assert top_k_accuracy(logits, [0, 0], 1) == 0.5
    assert top_k_accuracy(logits, [2, 0], 2) == 0.5


def test_beam_of_one_is_greedy_and_wider_beams_are_at_least_as_likely():
    torch.manual_seed(0)
    model = GVE(12, 6, 3, 5, 7).eval()
    with torch.no_grad():
        model.out.bias[Vocabulary.end_id] += 1.5
    features, classes = torch.rand(6, 6), torch.tensor([0, 1, 2, 0, 1, 2])
    greedy = model.generate(features, classes, 15)
    one = model.beam_search(features, classes, 1, 15)
    assert torch.equal(greedy[0], one[0]) and torch.equal(greedy[1], one[1])
    wide = model.beam_search(features, classes, 4, 15)

    def log_p(result):
        return model.sentence_log_probs(features, classes, *result, dropout=False)

    assert bool((log_p(wide) >= log_p(greedy) - 1e-6).all())


@pytest.fixture(scope="module")
def trained(tiny_cub_master, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {model: _train(tiny_cub_master, out, model) for model in ("sc", "lrcn", "gve")}


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_eval_writes_metrics_predictions_and_report(trained, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", str(trained["gve"] / "best.pt"), "--out", str(out), "--beam", "2"]) == 0
    printed = capsys.readouterr()
    assert "CIDEr" in printed.out and "report:" in printed.out
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    for key in ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "class_rank", "explanation_top1"):
        assert key in metrics
    assert "SPICE" in metrics or "spice" in metrics["skipped"]
    predictions = json.loads((out / "predictions" / "test.json").read_text())
    assert {"image_id", "caption", "class", "counterfactual", "references"} <= set(predictions[0])
    assert predictions[0]["counterfactual"]["class"] != predictions[0]["class"]
    report = (out / "report.html").read_text()
    assert "data:image/jpeg;base64," in report and "http" not in report.replace("http-equiv", "")


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_lrcn_has_no_counterfactual(trained, tmp_path, capsys):
    assert main(["eval", str(trained["lrcn"]), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr()
    skips = json.loads((tmp_path / "metrics.json").read_text())["test"]["skipped"].values()
    assert skips  # SPICE's models cannot be had here
    for reason in skips:  # said once, when it happened
        assert (printed.out + printed.err).count(reason) == 1, reason
    predictions = json.loads((tmp_path / "predictions" / "test.json").read_text())
    assert "counterfactual" not in predictions[0] and "class_rank" in predictions[0]


def test_truncated_checkpoint_is_one_line(trained, tmp_path, capsys):
    broken = tmp_path / "best.pt"
    broken.write_bytes((trained["gve"] / "best.pt").read_bytes()[:1000])
    assert main(["eval", str(broken)]) == 1
    assert "is not a readable gvetool checkpoint" in _one_line(capsys)
    assert "weights_only" not in capsys.readouterr().err
    (tmp_path / "config.toml").write_text('# gvetool run configuration\nmodel = "gve"\n')
    assert main(["eval", str(tmp_path / "config.toml")]) == 1
    assert _one_line(capsys) == (
        f"error: {tmp_path / 'config.toml'} is not a checkpoint (not a file torch.save writes); "
        "give a run's best.pt or last.pt, or its folder"
    )


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_with_a_code_payload_is_refused_without_torchs_unsafe_advice(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "gvetool-checkpoint/2", "model": _Payload()}, tmp_path / "evil.pt")
    assert main(["eval", str(tmp_path / "evil.pt")]) == 1
    line = _one_line(capsys)
    assert line.startswith(f"error: {tmp_path / 'evil.pt'} was refused unread: it holds objects ")
    assert "system" in line and "weights_only" not in line and "trusted" not in line
    assert not (tmp_path / "pwned").exists()


def test_sentence_classifier_checkpoint_is_refused(trained, capsys):
    assert main(["eval", str(trained["sc"])]) == 1
    assert "evaluation needs a captioning model" in _one_line(capsys)


def test_checkpoint_of_another_class_set_is_refused(trained, tmp_path, capsys):
    from gvetool.builtins.datasets.synth import SynthOptions, generate

    from .conftest import TINY

    other = tmp_path / "other"
    generate(other, SynthOptions(**{**TINY.__dict__, "classes": 3}))
    assert main(["eval", str(trained["gve"]), "--data-root", str(other)]) == 1
    assert "the checkpoint's classes (4) are not dataset 'cub's classes (3)" in _one_line(capsys)


def test_vocabulary_mismatch_is_refused(trained, tmp_path, capsys):
    from gvetool.builtins.datasets.synth import SynthOptions, generate

    from .conftest import TINY

    other = tmp_path / "other"
    generate(other, SynthOptions(**{**TINY.__dict__, "seed": 99, "captions_per_image": 1}))
    assert main(["eval", str(trained["lrcn"]), "--data-root", str(other)]) == 1
    assert "vocabulary" in _one_line(capsys)


def test_split_without_references_is_refused(trained, tmp_path, capsys, tiny_cub_master):
    root = tmp_path / "cub"
    shutil.copytree(tiny_cub_master, root)
    path = root / "descriptions_bird.test.fg.json"
    data = json.loads(path.read_text())
    data["annotations"] = []
    path.write_text(json.dumps(data))
    assert main(["eval", str(trained["lrcn"]), "--data-root", str(root)]) == 1
    assert "split 'test' of 'cub' has no reference captions" in _one_line(capsys)


def test_missing_java_skips_meteor_with_one_line_and_the_rest_runs(
    trained, tmp_path, capsys, monkeypatch
):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "java" else real_which(name))
    assert main(["eval", str(trained["lrcn"]), "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "meteor skipped: it needs the program 'java', which was not found" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert "METEOR" not in metrics and "CIDEr" in metrics and "BLEU-4" in metrics


def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0  # one thread
    assert torch.get_num_threads() == threads  # restored for the caller
    for config in (tmp_path / "demo" / "runs").glob("*/config.toml"):
        assert "threads = 1" in config.read_text()
    out = capsys.readouterr().out
    assert "LRCN vs GVE" in out and "report:" in out
    assert (tmp_path / "demo" / "report.html").is_file()
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert {"lrcn", "gve"} == set(metrics)


def test_explain_true_and_other_class(trained, tiny_cub_master, capsys):
    from gvetool.builtins.datasets.cub import open_cub

    test = open_cub(tiny_cub_master).split("test")
    image, other = test.image_ids[0], open_cub(tiny_cub_master).class_names[3]
    assert main(["explain", str(trained["gve"]), image, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["image_id"] == image and row["class"].startswith(f"{test.class_ids[0] + 1:03d}.")
    assert isinstance(row["explanation"], str)
    assert row["true_class"] == row["class"]
    assert main(["explain", str(trained["gve"]), image, "--class", other, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (
        row["class"] == other
        and row["true_class"] == open_cub(tiny_cub_master).class_names[test.class_ids[0]]
    )
    plain = other.split(".", 1)[1].replace("_", " ")  # the name without its number
    assert main(["explain", str(trained["gve"]), image, "--class", plain]) == 0
    table = capsys.readouterr().out
    assert "true class" in table and "explained as" in table and other[:12] in table
    assert main(["explain", str(trained["gve"]), image, "--class", other[4:-1]]) == 1
    assert _one_line(capsys).startswith(
        f"error: unknown class {other[4:-1]!r}; did you mean {other!r}"
    )
    assert main(["explain", str(trained["lrcn"]), image, "--class", other]) == 1
    assert "--class needs a class-conditioned model" in _one_line(capsys)
    assert main(["explain", str(trained["gve"]), "nope.jpg"]) == 1
    assert (
        _one_line(capsys) == "error: missing image file nope.jpg (nor is it an image id of 'cub')"
    )
    assert main(["explain", str(trained["gve"]), "nope"]) == 1
    line = _one_line(capsys)
    assert line.startswith("error: 1 image id is not in 'cub' (nope); ids look like '0")


def test_eval_of_several_checkpoints_compares_them_side_by_side(trained, tmp_path, capsys):
    out = tmp_path / "compare"
    args = ["eval", str(trained["lrcn"]), str(trained["gve"]), "--out", str(out)]
    assert main(args) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    report = (out / "report.html").read_text()
    assert "Examples side by side" in report and "<th>lrcn</th><th>gve</th>" in report
    assert report.count("<polyline") >= 4  # training loss and CIDEr, one line per model
    assert "training cross-entropy" in report and "validation CIDEr" in report
    assert "training loss with REINFORCE" in report  # GVE's own loss, on its own axis
    assert report.count("<h2>Per class</h2>") == 1  # one table, the models side by side
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics) == 2 and all("judge_top1" in m for m in metrics.values())
    assert (trained["gve"] / "predictions" / "test.json").is_file()  # each run's own outputs


def test_line_chart_draws_one_line_per_series():
    from gvetool.evaluation.charts import line_chart

    svg = line_chart("loss", {"a": [(1, 3.0), (2, 2.0)], "b": [(1, 4.0), (2, 1.0), (3, 0.5)]})
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and svg.count("<circle") == 5
    assert line_chart("empty", {}) == ""
    alone = line_chart("reward", {"b": [(1, 0.1), (2, 0.2)]}, {"a": "#111111", "b": "#222222"})
    assert "#222222" in alone and "#111111" not in alone  # b keeps its colour without a
    # round ticks between the extremes, each labelled; the legend above the plot
    for label in (">0<", ">1<", ">2<", ">3<", ">4<"):
        assert label in svg
    assert svg.index(">a</text>") < svg.index("<rect")


def test_ticks_are_round_and_labelled_without_exponents():
    from gvetool.evaluation.charts import nice_ticks, tick_label

    assert nice_ticks(2.1, 3.6) == [2.0, 2.5, 3.0, 3.5, 4.0]
    assert nice_ticks(0.05, 0.42) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert [tick_label(v, 0.1) for v in (0.0, 0.1, 0.30000000000000004)] == ["0", "0.1", "0.3"]
    assert tick_label(3.46e-10, 1e-10) == "3.5e-10"  # only for values that small


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_the_reports_curves_cover_the_whole_run_not_only_up_to_best_pt(trained, tmp_path):
    """best.pt is saved at the best epoch, so its own history stops there; the report's
    training curves come from the run's metrics.jsonl, every epoch."""
    run = tmp_path / "run"
    shutil.copytree(trained["lrcn"], run)
    epochs = (run / "metrics.jsonl").read_text().splitlines()
    best = torch.load(run / "best.pt", weights_only=True)
    best["metrics"] = best["metrics"][:1]
    torch.save(best, run / "best.pt")
    from gvetool.evaluation.evaluate import evaluate

    evaluation = evaluate(run / "best.pt", metrics=("bleu",))
    assert len(epochs) == 2 and [h["epoch"] for h in evaluation.history] == [1, 2]


def test_side_by_side_shows_every_evaluations_metrics_not_only_the_firsts():
    from gvetool.evaluation.evaluate import Evaluation
    from gvetool.evaluation.report import metrics_table, render_html

    lrcn = Evaluation("lrcn", "cub", "test", {"CIDEr": 0.5}, [])
    gve = Evaluation("gve", "cub", "test", {"CIDEr": 0.4, "explanation_top1": 0.7}, [])
    table = metrics_table([lrcn, gve], "lrcn vs gve")
    assert list(table.columns[0].cells) == ["CIDEr", "explanation_top1"]
    assert list(table.columns[1].cells) == ["0.500", "-"]
    assert "<td>explanation_top1</td><td class='num'>-</td><td class='num'>0.700</td>" in (
        render_html([lrcn, gve], "lrcn vs gve")
    )


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_metrics_record_their_decoding_and_another_setting_needs_force(trained, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", str(trained["gve"]), "--out", str(out), "--max-len", "12"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["decoding"] == {"beam": 1, "max_len": 12, "length_penalty": 0.0}
    assert metrics["sentence_classifier"] == str(trained["sc"] / "best.pt")
    capsys.readouterr()
    assert main(["eval", str(trained["gve"]), "--out", str(out), "--beam", "2"]) == 1
    assert _one_line(capsys) == (
        f"error: {out / 'metrics.json'} holds test results decoded with beam 1, max_len 12, "
        "length_penalty 0.0; pass --force to replace them or --out to keep both"
    )
    assert json.loads((out / "metrics.json").read_text())["test"] == metrics  # untouched
    assert main(["eval", str(trained["gve"]), "--out", str(out), "--max-len", "12"]) == 0
    assert main(["eval", str(trained["gve"]), "--out", str(out), "--beam", "2", "--force"]) == 0
    again = json.loads((out / "metrics.json").read_text())["test"]
    assert again["decoding"] == {"beam": 2, "max_len": 50, "length_penalty": 0.0}


def test_a_checkpoint_with_compressed_entries_is_refused_before_loading(trained, tmp_path, capsys):
    import zipfile

    crafted = tmp_path / "best.pt"
    with (
        zipfile.ZipFile(trained["lrcn"] / "best.pt") as source,
        zipfile.ZipFile(crafted, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            target.writestr(entry.filename, source.read(entry))
    assert main(["eval", str(crafted)]) == 1
    line = _one_line(capsys)
    assert line.startswith(f"error: {crafted} was refused unread: its entries expand beyond")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["config"].update(hidden_size=-5),
            "its config is impossible (hidden_size must be >= 1, got -5)",
        ),
        (lambda c: c.update(vocabulary=7), "its vocabulary (a list of words) is not what"),
        (lambda c: c.update(state_dict=[1, 2]), "its state_dict (tensors by name) is not what"),
        (lambda c: c.update(feature_dim="16"), "its feature_dim (a positive integer) is not"),
    ],
)
def test_a_checkpoint_with_damaged_fields_is_one_line(trained, tmp_path, capsys, change, message):
    checkpoint = torch.load(trained["lrcn"] / "best.pt", weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, tmp_path / "best.pt")
    assert main(["eval", str(tmp_path / "best.pt")]) == 1
    line = _one_line(capsys)
    assert line.startswith(f"error: {tmp_path / 'best.pt'} is a damaged checkpoint: ")
    assert message in line


def test_impossible_eval_options_are_one_line(trained, capsys):
    assert main(["eval", str(trained["lrcn"]), "--length-penalty", "nan"]) == 1
    assert _one_line(capsys) == "error: --length-penalty must be a finite number, got nan"
    if not torch.cuda.is_available():
        assert main(["eval", str(trained["lrcn"]), "--device", "cuda"]) == 1
        assert _one_line(capsys) == (
            "error: --device cuda was asked for, but no CUDA GPU is available"
        )
    assert main(["eval", str(trained["lrcn"]), "--device", "gpu"]) == 1
    assert _one_line(capsys) == "error: --device must be cpu, cuda or cuda:N, got 'gpu'"


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_unreadable_images_leave_a_report_without_their_pictures(
    trained, tiny_cub_master, tmp_path, capsys
):
    root = tmp_path / "cub"
    shutil.copytree(tiny_cub_master, root)
    for image in (root / "images").rglob("*.jpg"):
        image.write_bytes(b"not a jpeg")
    out = tmp_path / "eval"
    assert main(["eval", str(trained["lrcn"]), "--data-root", str(root), "--out", str(out)]) == 0
    assert "the report shows no picture of" in capsys.readouterr().err
    report = (out / "report.html").read_text()
    assert "data:image/jpeg;base64," not in report and (out / "metrics.json").is_file()


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_an_eval_of_some_metrics_merges_into_the_earlier_results(trained, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", str(trained["gve"]), "--out", str(out)]) == 0
    full = json.loads((out / "metrics.json").read_text())["test"]
    capsys.readouterr()
    assert main(["eval", str(trained["gve"]), "--out", str(out), "--metrics", "repetition"]) == 0
    merged = json.loads((out / "metrics.json").read_text())["test"]
    for key in ("CIDEr", "BLEU-4", "judge_top1", "repeated_trigram_share"):
        assert merged[key] == full[key]  # kept, or computed again the same
    err = capsys.readouterr().err
    assert f"merged into {out / 'metrics.json'}" in err
    assert (
        "replaced distinct_sentences, mean_sentence_length, repeated_trigram_share; kept the rest"
        in err
    )
    predictions = json.loads((out / "predictions" / "test.json").read_text())
    assert "CIDEr" in predictions[0]["scores"]  # the earlier per-image scores are kept too
    # another checkpoint's results are never mixed with these: they replace them
    assert main(["eval", str(trained["lrcn"]), "--out", str(out), "--metrics", "repetition"]) == 0
    assert "CIDEr" not in json.loads((out / "metrics.json").read_text())["test"]
