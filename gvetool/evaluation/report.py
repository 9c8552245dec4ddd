"""Writing an evaluation: ``metrics.json``, ``predictions/<split>.json`` and ``report.html``.

The report is one self-contained HTML file (inline styles, thumbnails as data URIs, no
network) so it can be mailed, archived or opened on a machine without the dataset.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.table import Table

from gvetool.evaluation.charts import COLOURS, line_chart
from gvetool.evaluation.evaluate import Evaluation
from gvetool.evaluation.scoring import meanings, metric_spec, metric_specs
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.utils.files import read_json, write_json, write_text

GALLERY_SIZE = 24
THUMBNAIL = 112


def write_outputs(evaluation: Evaluation, out: Path, title: str) -> Path:
    """Write the three outputs into ``out``; returns the report's path.

    Results of the same checkpoint and decoding already there for the split are merged
    with, not replaced: an evaluation of some metrics (``--metrics``) adds to what an
    earlier one computed, and says which numbers it replaced. Everything is computed
    before the first file is written, so a failure (an image the report cannot read, say)
    leaves the previous outputs as they were, not half replaced.
    """
    metrics_path = out / "metrics.json"
    predictions_path = out / "predictions" / f"{evaluation.split}.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    previous = metrics.get(evaluation.split)
    if _same_results(previous, evaluation) and predictions_path.is_file():
        _merge(evaluation, previous, read_json(predictions_path), metrics_path)
    metrics[evaluation.split] = {**evaluation.metrics, "skipped": evaluation.skipped}
    page = render_html([evaluation], title)
    write_json(metrics_path, metrics, indent=2)
    write_json(predictions_path, evaluation.predictions, indent=1)
    report = out / "report.html"
    write_text(report, page)
    return report


def _same_results(previous: Any, evaluation: Evaluation) -> bool:
    """Whether ``previous`` (a split's entry of ``metrics.json``) scored the sentences
    ``evaluation`` scored: the same checkpoint, decoded the same way."""
    return (
        isinstance(previous, dict)
        and previous.get("checkpoint") == evaluation.metrics.get("checkpoint")
        and previous.get("decoding") == evaluation.metrics.get("decoding")
    )


def _merge(
    evaluation: Evaluation,
    previous: dict[str, Any],
    predictions: list[dict[str, Any]],
    metrics_path: Path,
) -> None:
    """Fold the earlier results of the same sentences into ``evaluation``."""
    skipped = previous.get("skipped") if isinstance(previous.get("skipped"), dict) else {}
    numbers = {key for spec in metric_specs() for key in spec.keys}
    replaced = sorted(k for k in evaluation.metrics if k in previous and k in numbers)
    evaluation.metrics = {
        **{k: v for k, v in previous.items() if k != "skipped"},
        **evaluation.metrics,
    }
    evaluation.skipped = {
        **{k: v for k, v in skipped.items() if not _computed_now(k, evaluation)},
        **evaluation.skipped,
    }
    earlier = {p.get("image_id"): p for p in predictions if isinstance(p, dict)}
    for prediction in evaluation.predictions:
        before = earlier.get(prediction["image_id"])
        if before and before.get("caption") == prediction["caption"]:
            scores = before.get("scores") if isinstance(before.get("scores"), dict) else {}
            prediction["scores"] = {**scores, **prediction["scores"]}
            for key, value in before.items():
                prediction.setdefault(key, value)
    console.err().print(
        f"merged into {metrics_path} (the same checkpoint and decoding): replaced "
        f"{', '.join(replaced) or 'nothing'}; kept the rest",
        highlight=False,
        soft_wrap=True,
    )


def _computed_now(metric: str, evaluation: Evaluation) -> bool:
    """Whether the metric called ``metric`` ran in ``evaluation`` (so an earlier note that it
    was skipped no longer holds)."""
    try:
        return any(key in evaluation.metrics for key in metric_spec(metric).keys)
    except GvetoolError:  # a metric no longer installed: keep what was said of it
        return False


def refuse_other_settings(
    out: Path, split: str, decoded: dict[str, Any], sc_ckpt: Path | None, force: bool
) -> None:
    """Refuse, before any work, to overwrite ``out``'s results for ``split`` that were
    decoded otherwise (or scored by another sentence classifier) unless ``force``."""
    path = out / "metrics.json"
    if force or not path.is_file():
        return
    recorded = read_json(path).get(split)
    if not isinstance(recorded, dict):
        return
    before = recorded.get("decoding")
    if before != decoded:
        how = (
            "decoded with " + ", ".join(f"{k} {v}" for k, v in before.items())
            if isinstance(before, dict)
            else "whose decoding was not recorded"
        )
    elif sc_ckpt is not None and recorded.get("sentence_classifier") not in (None, str(sc_ckpt)):
        how = f"scored by the sentence classifier {recorded['sentence_classifier']}"
    else:
        return
    raise GvetoolError(
        f"{path} holds {split} results {how}; pass --force to replace them or --out to keep both"
    )


def metrics_table(evaluations: Sequence[Evaluation], title: str) -> Table:
    """Metrics side by side, one column per evaluation (for the terminal)."""
    table = Table(title=title)
    table.add_column("metric")
    for evaluation in evaluations:
        table.add_column(f"{evaluation.model} ({evaluation.split})", justify="right")
    for key in _numeric_keys(evaluations):
        row = [_format(e.metrics.get(key)) for e in evaluations]
        table.add_row(key, *row)
    return table


def print_summary(evaluations: Sequence[Evaluation], title: str) -> None:
    """The metrics table; what was skipped was warned about when it was skipped, and is
    in ``metrics.json`` and the report."""
    console.out().print(metrics_table(evaluations, title))


def _numeric_keys(evaluations: Sequence[Evaluation]) -> list[str]:
    """Every number any of the evaluations has, in order of first appearance (a model
    may have measures the others lack, e.g. GVE's explanation accuracy beside LRCN)."""
    return list(
        dict.fromkeys(
            key
            for e in evaluations
            for key, value in e.metrics.items()
            if isinstance(value, float | int) and not isinstance(value, bool)
        )
    )


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _thumbnail(path: Path) -> str | None:
    """The image as an inline JPEG; ``None`` (the card shows no picture) when the file is
    missing, unreadable, not an image or too large to decode safely."""
    if not path.is_file():
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        console.warn(f"the report shows no picture of {path}: {exc}")
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _gallery_indices(evaluation: Evaluation) -> list[int]:
    """A fixed sample of images, spread over classes when there are classes."""
    count = len(evaluation.predictions)
    order = np.random.default_rng(0).permutation(count)
    if "class" not in (evaluation.predictions[0] if count else {}):
        return sorted(order[:GALLERY_SIZE].tolist())
    chosen, seen = [], set()
    for i in order.tolist():  # one image per class first, then fill up
        if evaluation.predictions[i]["class"] not in seen:
            seen.add(evaluation.predictions[i]["class"])
            chosen.append(i)
    chosen += [i for i in order.tolist() if i not in set(chosen)]
    return chosen[:GALLERY_SIZE]


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem;display:flex;gap:.6rem}
.card>div{min-width:0;overflow-wrap:break-word}
.card img{width:112px;height:112px;object-fit:cover;border-radius:4px;flex:none}
.card .noimg{width:112px;height:112px;background:#eee;flex:none}
.label{font-size:.75rem;color:#666;text-transform:uppercase;letter-spacing:.03em}
.id{font-size:.75rem;color:#666;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.scroll{max-height:32rem;overflow:auto;display:inline-block}
.cls{font-weight:600}.cf{color:#7a3e00}.cfcls{font-size:.8rem;font-weight:600}details{font-size:.85rem;color:#444}
.note{color:#7a5a00}
.repeats{font-size:.7rem;background:#fde2e1;color:#a1261b;border-radius:3px;padding:0 .3rem}
.legend{font-size:.85rem;color:#444}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
table.side td{vertical-align:top;max-width:330px}
table.side td.image{width:180px;max-width:180px;overflow-wrap:break-word}
table.side td.image img{width:112px;height:112px;object-fit:cover;border-radius:4px}
"""


def render_html(evaluations: Sequence[Evaluation], title: str) -> str:
    """The report: metrics, training curves, per-class tables and examples — side by side
    when several models were evaluated on the same images."""
    heading = html.escape(title)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{heading}</title>",
        f"<style>{STYLE}</style></head><body><h1>{heading}</h1>",
    ]
    parts.append(_metrics_html(evaluations))
    notes = dict.fromkeys(r for e in evaluations for r in e.skipped.values())
    parts.extend(f"<p class='note'>{html.escape(reason)}</p>" for reason in notes)
    parts.append(_curves_html(evaluations))
    classified = [e for e in evaluations if e.per_class]
    if classified:
        parts.append("<h2>Per class</h2>")
        parts.append(_per_class_html(classified))
    if any("counterfactual" in p for e in evaluations for p in e.predictions[:1]):
        parts.append(f"<p class='legend'>{html.escape(COUNTERFACTUAL)}</p>")
    if len(evaluations) > 1 and _same_images(evaluations):
        parts.append(_side_by_side_html(evaluations))
    else:
        for evaluation in evaluations:
            name = f"{evaluation.model} on {evaluation.dataset} ({evaluation.split})"
            parts.append(f"<h2>Examples: {html.escape(name)}</h2><div class='gallery'>")
            for i in _gallery_indices(evaluation):
                parts.append(_card_html(evaluation, i))
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _names(evaluations: Sequence[Evaluation]) -> list[str]:
    """A label per evaluation, numbered where two share a model name."""
    models = [e.model for e in evaluations]
    return [m if models.count(m) == 1 else f"{m} #{i + 1}" for i, m in enumerate(models)]


def _curves_html(evaluations: Sequence[Evaluation]) -> str:
    """Training loss and validation metrics per epoch, one line per model."""
    labelled = [(n, e.history) for n, e in zip(_names(evaluations), evaluations, strict=True)]
    labelled = [(name, history) for name, history in labelled if history]
    if not labelled:
        return ""
    colours = {name: COLOURS[i % len(COLOURS)] for i, (name, _) in enumerate(labelled)}
    # Cross-entropy is what every captioner's loss has in common (GVE logs it as "ce"
    # beside its loss with the REINFORCE term, which gets its own chart).
    charts = [
        line_chart(
            "training cross-entropy",
            {
                name: [
                    (h["epoch"], h["train"].get("ce", h["train"].get("loss")))
                    for h in history
                    if "ce" in h["train"] or "loss" in h["train"]
                ]
                for name, history in labelled
            },
            colours,
        )
    ]
    for key, title in (
        ("loss", "training loss with REINFORCE (CE + λ·R)"),
        ("reward", "training reward"),
    ):
        series = {
            name: [(h["epoch"], h["train"][key]) for h in history if key in h["train"]]
            for name, history in labelled
            if any("ce" in h["train"] for h in history)
        }
        series = {name: points for name, points in series.items() if points}
        if series:
            charts.append(line_chart(title, series, colours))
    metrics = dict.fromkeys(key for _, history in labelled for h in history for key in h["val"])
    for metric in metrics:  # every validation number the runs recorded, in their order
        series = {
            name: [(h["epoch"], h["val"][metric]) for h in history if metric in h["val"]]
            for name, history in labelled
        }
        series = {name: points for name, points in series.items() if points}
        if series:
            charts.append(line_chart(f"validation {metric}", series, colours))
    return "<h2>Training</h2><div class='charts'>" + "".join(charts) + "</div>"


def _same_images(evaluations: Sequence[Evaluation]) -> bool:
    first = [p["image_id"] for p in evaluations[0].predictions]
    return all([p["image_id"] for p in e.predictions] == first for e in evaluations[1:])


def _side_by_side_html(evaluations: Sequence[Evaluation]) -> str:
    """The same images with every model's sentence (and counterfactual) next to each other."""
    names = _names(evaluations)
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = []
    for i in _gallery_indices(evaluations[0]):
        first = evaluations[0]
        prediction = first.predictions[i]
        thumb = _thumbnail(first.image_paths[i]) if i < len(first.image_paths) else None
        image = f"<img src='{thumb}' alt=''>" if thumb else "<div class='noimg'></div>"
        about = f"<div class='id'>{html.escape(str(prediction['image_id']))}</div>"
        if "class" in prediction:
            about += f"<div class='cls'>{_breakable(prediction['class'])}</div>"
        cells = [f"<td class='image'>{image}{about}</td>"]
        for evaluation in evaluations:
            p = evaluation.predictions[i]
            text = _repeats_tag(p) + html.escape(p["caption"])
            if "counterfactual" in p:
                text += _counterfactual_html(p["counterfactual"])
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<h2>Examples side by side</h2><table class='side'>"
        f"<tr><th>image</th>{head}</tr>{''.join(rows)}</table>"
    )


def _metrics_html(evaluations: Sequence[Evaluation]) -> str:
    keys = _numeric_keys(evaluations)
    head = "".join(f"<th>{html.escape(f'{e.model} ({e.split})')}</th>" for e in evaluations)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td>"
        + "".join(f"<td class='num'>{_format(e.metrics.get(k))}</td>" for e in evaluations)
        + "</tr>"
        for k in keys
    )
    legend = "".join(f"<li>{html.escape(note)}</li>" for note in meanings(keys))
    legend = f"<ul class='legend'>{legend}</ul>" if legend else ""
    return f"<h2>Metrics</h2><table><tr><th>metric</th>{head}</tr>{rows}</table>{legend}"


COUNTERFACTUAL = (
    "counterfactual: the explanation a class-conditioned model gives when it is told the "
    "image shows another class, the one its explanations of the true class are most often "
    "taken for by the sentence classifier"
)


def _repeats_tag(prediction: dict[str, Any]) -> str:
    """A warning tag on a sentence that repeats a phrase (see ``repeated_trigram_share``)."""
    return " <span class='repeats'>repeats a phrase</span> " if prediction.get("repeats") else ""


def _counterfactual_html(counterfactual: dict[str, str]) -> str:
    """The explanation for another class, tagged with that class (the legend says why)."""
    return (
        "<div class='cf'><span class='label'>counterfactual, as</span> "
        f"<span class='cfcls'>{_breakable(counterfactual['class'])}</span><br>"
        f"{html.escape(counterfactual['caption'])}</div>"
    )


def _breakable(text: str) -> str:
    """Escaped, with line-break chances after ``_``, ``.`` and ``/`` (class names have no
    spaces; a narrow column then breaks between words, not inside them)."""
    escaped = html.escape(text)
    for mark in ("_", ".", "/"):
        escaped = escaped.replace(mark, mark + "<wbr>")
    return escaped


def _per_class_html(evaluations: Sequence[Evaluation]) -> str:
    """One table, a row per class: its image count, then each model's measures side by
    side (scrolls within the page: CUB has 200 classes)."""
    names = _names(evaluations)
    measures = list(
        dict.fromkeys(
            key
            for e in evaluations
            for row in e.per_class
            for key in row
            if key not in ("class", "images")
        )
    )
    by_class = [{row["class"]: row for row in e.per_class} for e in evaluations]
    classes = list(dict.fromkeys(row["class"] for e in evaluations for row in e.per_class))
    several = len(evaluations) > 1
    head = (
        "<tr><th rowspan='2'>class</th><th rowspan='2'>images</th>"
        if several
        else ("<tr><th>class</th><th>images</th>")
    )
    if several:
        head += "".join(f"<th colspan='{len(measures)}'>{html.escape(n)}</th>" for n in names)
        head += "</tr><tr>" + "".join(
            f"<th>{html.escape(m)}</th>" for _ in evaluations for m in measures
        )
    else:
        head += "".join(f"<th>{html.escape(m)}</th>" for m in measures)
    rows = []
    for name in classes:
        rows_of = [table.get(name, {}) for table in by_class]
        images = next((r["images"] for r in rows_of if "images" in r), None)
        cells = [f"<td>{_breakable(name)}</td>", f"<td class='num'>{_format(images)}</td>"]
        cells += [
            f"<td class='num'>{html.escape(_format(row.get(m)))}</td>"
            for row in rows_of
            for m in measures
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<div class='scroll'><table>{head}</tr>{''.join(rows)}</table></div>"


def _card_html(evaluation: Evaluation, i: int) -> str:
    p = evaluation.predictions[i]
    thumb = _thumbnail(evaluation.image_paths[i]) if i < len(evaluation.image_paths) else None
    image = f"<img src='{thumb}' alt=''>" if thumb else "<div class='noimg'></div>"
    lines = [f"<div class='id'>{html.escape(str(p['image_id']))}</div>"]
    if "class" in p:
        lines.append(f"<div class='cls'>{_breakable(p['class'])}</div>")
    lines.append(
        f"<div><span class='label'>explanation</span>{_repeats_tag(p)}<br>"
        f"{html.escape(p['caption'])}</div>"
    )
    if "counterfactual" in p:
        lines.append(_counterfactual_html(p["counterfactual"]))
    if "references" in p:
        refs = "".join(f"<li>{html.escape(r)}</li>" for r in p["references"])
        lines.append(f"<details><summary>references</summary><ul>{refs}</ul></details>")
    return f"<div class='card'>{image}<div>{''.join(lines)}</div></div>"
