"""A third synthetic dataset, designed apart from the birds and the reef fish: moths
described by templates.

    python benchmarks/moths.py OUT [--classes 20] [--images-per-class 30] [--seed 0]

Why a third generator: a deviation from the original can show on some data only (on the
birds and the reef fish gvetool's greedy sentences were no longer than the original's; on
data like this they were). What this one has that the others lack, on purpose:

* **template captions with punctuation**: commas between the parts named ("grey-colored
  forewings, banded markings and feathery antennae"), which the PTB tokenizer drops, so
  the tokens a model learns and the words a caption shows differ;
* **hyphenated colour words** ("grey-colored", "rust-tinted"), single PTB tokens;
* **2 to 4 of an image's attributes per caption**, from five (forewing colour, pattern,
  antennae, body, hindwing colour), in templates that name them in varying order, so
  caption length varies with what is named rather than with free wording;
* **a small vocabulary** (under a hundred words) and **occasional grammar slips**
  ("an" before a consonant, as crowd-written captions have);
* **features** a fixed random linear map of the attribute one-hots plus noise, rectified.

Written in the CUB release layout (see ``cub_layout.py``), read by gvetool and the
original alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cub_layout import command_line, draw_individuals, write_cub_layout

FOREWINGS = ("grey", "brown", "cream", "rust", "olive", "black", "white", "ochre")
SUFFIXES = ("colored", "tinted")
PATTERNS = ("banded", "spotted", "streaked", "plain", "eyed")
ANTENNAE = ("feathery", "thin", "clubbed")
BODIES = ("fuzzy", "slim", "stout")
HINDWINGS = ("pink", "orange", "yellow", "white")
SLIP = 0.1  # how often "an" stands before a consonant


@dataclass(frozen=True)
class Moth:
    forewing: str
    pattern: str
    antennae: str
    body: str
    hindwing: str


def species(count: int, rng: np.random.Generator) -> list[Moth]:
    """``count`` species, distinct in (forewing, pattern, hindwing); antennae and body shared."""
    seen: set[tuple[str, str, str]] = set()
    kinds = []
    while len(kinds) < count:
        key = (str(rng.choice(FOREWINGS)), str(rng.choice(PATTERNS)), str(rng.choice(HINDWINGS)))
        if key not in seen:
            seen.add(key)
            kinds.append(
                Moth(key[0], key[1], str(rng.choice(ANTENNAE)), str(rng.choice(BODIES)), key[2])
            )
    return kinds


def one_moth(kind: Moth, rng: np.random.Generator) -> Moth:
    """An individual: its species, the forewing colour sometimes seen as another."""
    forewing = str(rng.choice(FOREWINGS)) if rng.random() < 0.15 else kind.forewing
    return Moth(forewing, kind.pattern, kind.antennae, kind.body, kind.hindwing)


def _colour(name: str, rng: np.random.Generator) -> str:
    return f"{name}-{rng.choice(SUFFIXES)}" if rng.random() < 0.5 else name


def _article(word: str, rng: np.random.Generator) -> str:
    vowel = word[0] in "aeiou"
    return "an" if vowel or rng.random() < SLIP else "a"


def describe(moth: Moth, rng: np.random.Generator) -> str:
    """One caption naming 2 to 4 of the moth's attributes, with commas."""
    parts = {
        "forewing": f"{_colour(moth.forewing, rng)} forewings",
        "pattern": f"{moth.pattern} markings",
        "antennae": f"{moth.antennae} antennae",
        "body": f"a {moth.body} body",
        "hindwing": f"{_colour(moth.hindwing, rng)} hindwings",
    }
    named = [str(k) for k in rng.permutation(list(parts))[: rng.integers(2, 5)]]
    listed = [parts[k] for k in named]
    listing = ", ".join(listed[:-1]) + " and " + listed[-1]
    lead = _colour(moth.forewing, rng)
    templates = (
        f"this moth has {listing}",
        f"{_article(lead, rng)} {lead} moth with {listing}",
        f"the moth is {moth.body}, with {listing}",
        f"{listing}, on a resting moth",
    )
    return str(rng.choice(templates))


def features(moths: list[Moth], dim: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed random linear map of the attributes' one-hots, noise added, rectified."""
    columns = [
        *(("forewing", v) for v in FOREWINGS),
        *(("pattern", v) for v in PATTERNS),
        *(("antennae", v) for v in ANTENNAE),
        *(("body", v) for v in BODIES),
        *(("hindwing", v) for v in HINDWINGS),
    ]
    index = {column: i for i, column in enumerate(columns)}
    hot = np.zeros((len(moths), len(columns)), dtype=np.float32)
    for row, moth in enumerate(moths):
        for part in ("forewing", "pattern", "antennae", "body", "hindwing"):
            hot[row, index[(part, getattr(moth, part))]] = 1.0
    projected = hot @ rng.normal(0, 1.0, (len(columns), dim)) + rng.normal(
        0, 0.5, (len(moths), dim)
    )
    return np.maximum(projected, 0).astype(np.float32)


def write(out: Path, classes: int, per_class: int, captions: int, dim: int, seed: int) -> None:
    """The dataset in CUB's release layout (the files gvetool and the original read)."""
    rng = np.random.default_rng(seed)
    kinds = species(classes, rng)
    names = [
        f"{c + 1:03d}.{k.pattern.title()}_{k.forewing.title()}_{k.hindwing.title()}_Moth"
        for c, k in enumerate(kinds)
    ]
    items, ordered, moths = draw_individuals(
        kinds, names, per_class, captions, rng, one_moth, describe
    )
    vectors = features([moths[i] for i in ordered], dim, rng)
    write_cub_layout(out, names, items, dict(zip(ordered, vectors, strict=True)), "moths")


if __name__ == "__main__":
    command_line(write, __doc__.splitlines()[0], "moth")
