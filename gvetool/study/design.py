"""Which questions a study asks: random A/B pairs of two runs' sentences, and checks.

Every question shows an image, names its true class and offers two sentences, left and
right, asking which better explains why the image is of that class. A pair question puts
run A's and run B's sentences for the image on sides drawn at random; an attention check
puts a human reference of the image beside a human reference of an image of another class,
so that its right answer is known. The questions are shuffled together; only the key
(``key.json``) says which is which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from gvetool.evaluation.side_by_side import Image, SideBySide
from gvetool.utils.errors import GvetoolError

PAIR, CHECK = "pair", "check"


@dataclass(frozen=True)
class Question:
    """One question as a rater sees it, and what it hides (``left_is``/``right_is``: ``A``,
    ``B``, ``reference`` or ``other class``; ``expected``: a check's right side)."""

    id: str
    kind: str
    image_index: int
    image_id: str
    class_name: str
    left: str
    right: str
    left_is: str
    right_is: str
    expected: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Design:
    questions: list[Question]
    identical_skipped: int  # images where both runs wrote the same sentence


def default_checks(pairs: int) -> int:
    """One attention check per ten pairs, at least two."""
    return max(2, round(pairs / 10))


def design(shown: SideBySide, pairs: int, checks: int, seed: int) -> Design:
    """Draw ``pairs`` images whose two sentences differ and ``checks`` attention checks,
    sides and order at random from ``seed``."""
    if len(shown.runs) != 2:
        raise GvetoolError("a study compares exactly two runs")
    if not shown.class_names:
        raise GvetoolError(
            f"'{shown.dataset}' has no classes: a study asks why an image shows its class"
        )
    if pairs < 1 or checks < 0:
        raise GvetoolError(f"--pairs must be >= 1 and --checks >= 0, got {pairs} and {checks}")
    rng = np.random.default_rng(seed)
    images = shown.images
    usable = [n for n, i in enumerate(images) if i.sentences[0].text != i.sentences[1].text]
    identical = len(images) - len(usable)
    if len(usable) < pairs:
        raise GvetoolError(
            f"only {len(usable)} images of the {shown.split} split have two different "
            f"sentences ({identical} identical); ask for --pairs {len(usable)} or fewer"
        )
    drawn = rng.choice(usable, size=pairs, replace=False).tolist()
    questions = [_pair(shown, int(n), rng) for n in drawn]
    questions += _checks(shown, checks, rng)
    order = rng.permutation(len(questions)).tolist()
    width = len(str(len(questions)))
    numbered = [replace(questions[n], id=f"q{k + 1:0{width}d}") for k, n in enumerate(order)]
    return Design(numbered, identical)


def _pair(shown: SideBySide, index: int, rng: np.random.Generator) -> Question:
    image = shown.images[index]
    a, b = ("A", image.sentences[0].text), ("B", image.sentences[1].text)
    return _question(PAIR, index, image, a, b, rng)


def _question(
    kind: str,
    index: int,
    image: Image,
    first: tuple[str, str],
    second: tuple[str, str],
    rng: np.random.Generator,
) -> Question:
    """A question of two ``(what, sentence)`` sides, on sides drawn at random; a check's
    expected answer is the side of the image's own reference."""
    sides = [first, second]
    if rng.random() < 0.5:
        sides.reverse()
    expected = None if kind == PAIR else ("left" if sides[0][0] == "reference" else "right")
    (left_is, left), (right_is, right) = sides
    return Question(
        "", kind, index, image.id, str(image.class_name), left, right, left_is, right_is, expected
    )


def _checks(shown: SideBySide, count: int, rng: np.random.Generator) -> list[Question]:
    """Attention checks: a reference of the image against one of another class's image."""
    images = shown.images
    with_references = [n for n, i in enumerate(images) if i.references and i.class_name]
    if count and len({images[n].class_name for n in with_references}) < 2:
        raise GvetoolError(
            "attention checks need human references of two classes or more; pass --checks 0"
        )
    checks = []
    for n in rng.choice(with_references, size=count, replace=count > len(with_references)):
        image = images[int(n)]
        others = [m for m in with_references if images[m].class_name != image.class_name]
        other = images[int(rng.choice(others))]
        own = image.references[int(rng.integers(len(image.references)))]
        foreign = other.references[int(rng.integers(len(other.references)))]
        checks.append(
            _question(CHECK, int(n), image, ("reference", own), ("other class", foreign), rng)
        )
    return checks
