"""The study's pages: one self-contained HTML questionnaire and a CSV for crowd platforms.

The questionnaire carries its images as data URIs and its script inline, so it works
opened from a file, mailed, or put on any static host, with no network. A rater's answers
are kept in the browser as they are given (a reload loses nothing) and download as CSV
(``rater,question,choice``), the file ``gvetool study score`` reads.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from importlib import resources
from pathlib import Path

from PIL import Image

from gvetool.data.image_features import MAX_PIXELS
from gvetool.study.design import Question
from gvetool.utils.errors import DataError

PICTURE = 360
ANSWER_COLUMNS = ("rater", "question", "choice")
CROWD_COLUMNS = ("question", "image", "class", "left", "right")


def _asset(name: str) -> str:
    return resources.files("gvetool.study").joinpath("assets", name).read_text(encoding="utf-8")


def picture(path: Path) -> bytes:
    """The image as a JPEG of at most :data:`PICTURE` pixels a side."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataError(f"image {path} is too large to put in a study")
            image.draft("RGB", (PICTURE, PICTURE))
            small = image.convert("RGB")
            small.thumbnail((PICTURE, PICTURE))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path} for the study: {exc}") from None
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def render(study_id: str, title: str, questions: list[Question], pictures: dict[str, bytes]) -> str:
    """The questionnaire for ``questions``; ``pictures`` maps an image id to its JPEG."""
    blocks = []
    for q in questions:
        data = base64.b64encode(pictures[q.image_id]).decode()
        name = html.escape(_plain(q.class_name))
        choices = "".join(
            f"<label><input type='radio' name='{q.id}' value='{side}'>{html.escape(text)}</label>"
            for side, text in (("left", q.left), ("right", q.right))
        )
        blocks.append(
            f"<section class='q' id='{q.id}'><div>{q.id}</div>"
            f"<img src='data:image/jpeg;base64,{data}' alt='an image of a {name}'>"
            f"<p class='ask'>This is a <b>{name}</b>. Which sentence better explains why?</p>"
            f"<div class='choices'>{choices}</div></section>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_asset('questionnaire.css')}</style></head>"
        f"<body data-study='{html.escape(study_id)}'>"
        "<div id='bar'><label>Your name or rater id <input id='rater' required></label>"
        "<span id='status'></span><button id='download' disabled>Download answers (CSV)</button>"
        "</div><main>"
        f"<h1>{html.escape(title)}</h1><p>For each image, pick the sentence that better "
        "explains why the image shows the class named. Both may be imperfect: choose the "
        "better one. Your answers stay in this browser until you download them.</p>"
        f"{''.join(blocks)}</main><script>{_asset('questionnaire.js')}</script></body></html>"
    )


def crowd_csv(questions: list[Question]) -> str:
    """One row per question for a crowdsourcing platform's batch upload; ``image`` is the
    picture's path in ``images/``, to be prefixed with where that folder is hosted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CROWD_COLUMNS)
    for q in questions:
        writer.writerow((q.id, f"images/{q.id}.jpg", _plain(q.class_name), q.left, q.right))
    return buffer.getvalue()


def _plain(name: str) -> str:
    """``002.Laysan_Albatross`` -> ``Laysan Albatross``: how a rater reads a class."""
    head, dot, rest = name.partition(".")
    return (rest if dot and head.isdigit() else name).replace("_", " ")


def key_json(meta: dict[str, object], questions: list[Question]) -> str:
    return json.dumps({**meta, "questions": [q.to_json() for q in questions]}, indent=1)
