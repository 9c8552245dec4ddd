"""A second synthetic dataset, designed apart from the embedded birds: reef fish.

    python benchmarks/reef.py OUT [--classes 20] [--images-per-class 30] [--seed 0]

Why a second generator: a method tuned on one generator can hide a deviation that only
shows elsewhere (gvetool's GVE looked right on the birds and degenerated on other data).
This one differs from :mod:`gvetool.builtins.datasets.synth_birds` on purpose, in every part the
models see:

* **other words and phrasing**: fish, fins, scales, reef and water, in sentence shapes the
  birds never use ("swimming near the coral, this fish is ...");
* **another attribute structure**: a species is a body colour shared with other species,
  a body shape, and a *mark*, a pattern on one fin (striped dorsal fin, spotted tail...);
  only the mark pair tells most species apart;
* **rarely named distinguishing parts**: a description names the mark with probability
  0.3, and otherwise talks about what many species share (colour, shape, size, the
  water), so the class signal in the text is sparse;
* **features** a random two-layer non-linear map of the image's attributes with noise,
  the mark's signal weaker than the body's, instead of one-hot attributes plus noise.

Written in the CUB release layout (descriptions JSON, feature and label pickles, split
lists, classes.txt; no images), so both gvetool (``--dataset cub``) and the original code
read it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cub_layout import command_line, draw_individuals, write_cub_layout

BODY = ("silver", "gold", "blue", "orange", "black", "white", "yellow", "grey")
SHAPES = ("round", "slender", "flat", "long")
MARKS = ("striped", "spotted", "banded", "speckled", "dark-edged")
FINS = ("dorsal fin", "tail fin", "pectoral fins", "anal fin")
SIZES = ("tiny", "small", "large")
WATERS = ("near the coral", "over the sand", "among the sea grass", "in open water")
MARK_MENTION = 0.3  # how often a description names the distinguishing mark


@dataclass(frozen=True)
class Fish:
    body: str
    shape: str
    mark: str
    fin: str
    size: str


def species(count: int, rng: np.random.Generator) -> list[Fish]:
    """``count`` species with distinct (mark, fin) pairs; body colours shared in pairs."""
    pairs = list(itertools.product(MARKS, FINS))
    if count > len(pairs):
        raise SystemExit(f"at most {len(pairs)} classes")
    chosen = rng.permutation(len(pairs))[:count]
    bodies = rng.choice(BODY, size=(count + 1) // 2)  # two species per body colour
    fishes = []
    for i, k in enumerate(chosen):
        shape, size = str(rng.choice(SHAPES)), str(rng.choice(SIZES))
        fishes.append(Fish(str(bodies[i // 2]), shape, pairs[k][0], pairs[k][1], size))
    return fishes


def one_fish(kind: Fish, rng: np.random.Generator) -> Fish:
    """An individual: its species' attributes, each sometimes off (lighting, age)."""

    def maybe(value: str, options: tuple[str, ...], p: float) -> str:
        return str(rng.choice(options)) if rng.random() < p else value

    return Fish(
        maybe(kind.body, BODY, 0.2),
        maybe(kind.shape, SHAPES, 0.15),
        kind.mark,
        kind.fin,
        maybe(kind.size, SIZES, 0.3),
    )


def describe(fish: Fish, rng: np.random.Generator) -> str:
    """One description; the mark is named only sometimes."""
    water = str(rng.choice(WATERS))
    common = [
        f"a {fish.size} {fish.body} fish swimming {water}",
        f"swimming {water}, this fish is {fish.body} with a {fish.shape} body",
        f"this {fish.shape} fish has {fish.body} scales",
        f"the fish is {fish.body} and {fish.size}, with shiny scales",
        f"a {fish.body} fish with a {fish.shape} body and clear fins",
    ]
    sentence = str(rng.choice(common))
    if rng.random() < MARK_MENTION:
        sentence += str(
            rng.choice([f" and a {fish.mark} {fish.fin}", f", its {fish.fin} {fish.mark}"])
        )
    return sentence


def features(fishes: list[Fish], dim: int, rng: np.random.Generator) -> np.ndarray:
    """A fixed random non-linear map of the attributes, plus noise."""
    vocab = {
        name: i
        for i, name in enumerate(
            [f"b:{v}" for v in BODY]
            + [f"s:{v}" for v in SHAPES]
            + [f"m:{v}" for v in MARKS]
            + [f"f:{v}" for v in FINS]
            + [f"z:{v}" for v in SIZES]
        )
    }
    attributes = np.zeros((len(fishes), len(vocab)), dtype=np.float32)
    for row, fish in enumerate(fishes):
        for key, weight in (
            ("b:" + fish.body, 1.0),
            ("s:" + fish.shape, 1.0),
            ("m:" + fish.mark, 0.6),
            ("f:" + fish.fin, 0.6),
            ("z:" + fish.size, 0.8),
        ):
            attributes[row, vocab[key]] = weight
    hidden = np.tanh(attributes @ rng.normal(0, 1.2, (len(vocab), 64)) + rng.normal(0, 0.3, 64))
    out = hidden @ rng.normal(0, 1 / 8, (64, dim)) + rng.normal(0, 0.15, (len(fishes), dim))
    return np.maximum(out, 0).astype(np.float32)  # non-negative, as CNN features are


def write(out: Path, classes: int, per_class: int, captions: int, dim: int, seed: int) -> None:
    """The dataset in CUB's release layout (the files gvetool and the original read)."""
    rng = np.random.default_rng(seed)
    kinds = species(classes, rng)
    names = [
        f"{c + 1:03d}.{k.mark.title().replace('-', '_')}_{k.fin.split()[0].title()}_"
        f"{k.body.title()}fish"
        for c, k in enumerate(kinds)
    ]
    items, ordered, fishes = draw_individuals(
        kinds, names, per_class, captions, rng, one_fish, describe
    )
    vectors = features([fishes[i] for i in ordered], dim, rng)
    write_cub_layout(out, names, items, dict(zip(ordered, vectors, strict=True)), "reef fish")


if __name__ == "__main__":
    command_line(write, __doc__.splitlines()[0], "reef-fish")
