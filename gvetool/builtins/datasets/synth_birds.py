"""Synthetic birds: attribute-defined classes, rendered images, grammar descriptions.

The point of the embedded dataset is that the science can be exercised on a fresh machine:
each class is a combination of visual attributes (crown, wing, breast and tail colours, bill
shape, body size); each image draws its class's attributes with per-image noise (a part
may take another colour, shades jitter, pose and background vary); each description
mentions a few of *that image's* attributes in varied wordings. A sentence classifier can
therefore learn which words identify a class, and an explainer can learn to mention them.

This module only makes birds; :mod:`gvetool.builtins.datasets.synth` writes them to disk in the
real datasets' layouts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 35, 35),
    "blue": (45, 80, 200),
    "yellow": (235, 210, 45),
    "black": (25, 25, 25),
    "white": (240, 240, 235),
    "brown": (125, 80, 40),
    "grey": (130, 130, 130),
    "green": (45, 150, 65),
    "orange": (240, 140, 25),
}
PARTS = ("crown", "wing", "breast", "tail")
BILLS = ("short", "long", "hooked", "cone-shaped")
SIZES = ("small", "medium", "large")
_NOUN_BY_BILL = {
    "short": "Warbler",
    "long": "Sandpiper",
    "hooked": "Shrike",
    "cone-shaped": "Finch",
}
_SCALE_BY_SIZE = {"small": 0.55, "medium": 0.7, "large": 0.85}

# One-hot layout of an attribute vector: 4 parts x colours, then bill, then size.
ATTRIBUTE_DIM = len(PARTS) * len(COLOURS) + len(BILLS) + len(SIZES)


@dataclass(frozen=True)
class Bird:
    """The visible attributes of one bird (a class prototype or one image)."""

    crown: str
    wing: str
    breast: str
    tail: str
    bill: str
    size: str

    def colour(self, part: str) -> str:
        return str(getattr(self, part))

    def vector(self) -> np.ndarray:
        """One-hot attribute encoding, the basis of the attribute-derived features."""
        v = np.zeros(ATTRIBUTE_DIM, dtype=np.float32)
        names = list(COLOURS)
        for p, part in enumerate(PARTS):
            v[p * len(names) + names.index(self.colour(part))] = 1.0
        offset = len(PARTS) * len(names)
        v[offset + BILLS.index(self.bill)] = 1.0
        v[offset + len(BILLS) + SIZES.index(self.size)] = 1.0
        return v


FAMILY_SIZE = 4  # classes per family: fine-grained classes, like CUB's


def make_classes(count: int, rng: np.random.Generator) -> list[tuple[str, Bird]]:
    """``count`` distinct classes with CUB-style names (``Red_crowned_Finch``).

    Classes come in families of :data:`FAMILY_SIZE` that share breast and wing colour,
    bill shape and size, and differ only in crown and tail colour — fine-grained, as bird
    species are. Together with descriptions that mention the shared, salient parts more
    often than the distinguishing ones (:func:`describe`), this is what makes "a bird with
    a white belly and brown wings" image-relevant but not class-discriminative: the gap
    between describing and explaining that GVE is about.
    """
    colours = list(COLOURS)
    names: set[str] = set()
    classes: list[tuple[str, Bird]] = []
    while len(classes) < count:
        family = {
            "breast": colours[rng.integers(len(colours))],
            "wing": colours[rng.integers(len(colours))],
            "bill": BILLS[rng.integers(len(BILLS))],
            "size": SIZES[rng.integers(len(SIZES))],
        }
        members: set[Bird] = set()
        while len(members) < min(FAMILY_SIZE, count - len(classes) + len(members)):
            crown, tail = (colours[i] for i in rng.integers(len(colours), size=2))
            bird = Bird(crown=crown, tail=tail, **family)
            if bird in members or any(bird == known for _, known in classes):
                continue
            members.add(bird)
            classes.append((_class_name(bird, names, len(classes)), bird))
    return classes


def _class_name(bird: Bird, taken: set[str], index: int) -> str:
    """A CUB-style name, made longer until it is unique."""
    noun = _NOUN_BY_BILL[bird.bill]
    candidates = [
        f"{bird.crown.title()}_crowned_{noun}",
        f"{bird.crown.title()}_crowned_{bird.breast.title()}_breasted_{noun}",
        f"{bird.crown.title()}_crowned_{bird.tail.title()}_tailed_{bird.breast.title()}_"
        f"breasted_{noun}",
    ]
    name = next((n for n in candidates if n not in taken), f"{candidates[-1]}_{index}")
    taken.add(name)
    return name


def perturb(prototype: Bird, noise: float, rng: np.random.Generator) -> Bird:
    """An individual of the class: each part keeps its colour with probability 1 - noise."""
    colours = list(COLOURS)
    parts = {
        part: colours[rng.integers(len(colours))]
        if rng.random() < noise
        else prototype.colour(part)
        for part in PARTS
    }
    size = prototype.size
    if rng.random() < noise:
        size = SIZES[int(np.clip(SIZES.index(size) + rng.choice([-1, 1]), 0, 2))]
    return Bird(**parts, bill=prototype.bill, size=size)


def _shade(colour: str, rng: np.random.Generator) -> tuple[int, int, int]:
    base = np.array(COLOURS[colour]) + rng.integers(-18, 19, size=3)
    return tuple(int(x) for x in np.clip(base, 0, 255))  # type: ignore[return-value]


def render(bird: Bird, size: int, rng: np.random.Generator) -> Image.Image:
    """Draw ``bird`` as an RGB image, at 2x and downsampled for smooth edges."""
    s = 2 * size
    background = tuple(int(x) for x in rng.integers(150, 236, size=3))
    image = Image.new("RGB", (s, s), background)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    for _ in range(3):  # out-of-focus foliage so the bird is not on a flat colour
        x, y, r = [*rng.integers(0, s, size=2).tolist(), int(rng.integers(s // 8, s // 3))]
        leaf = tuple(
            int(c) for c in np.clip(np.array(background) - rng.integers(20, 60, 3), 0, 255)
        )
        draw.ellipse((x - r, y - r, x + r, y + r), fill=leaf)  # type: ignore[arg-type]

    k = _SCALE_BY_SIZE[bird.size] * s * float(rng.uniform(0.92, 1.08))
    cx = s / 2 + float(rng.uniform(-0.08, 0.08)) * s
    cy = s / 2 + float(rng.uniform(-0.06, 0.1)) * s
    bw, bh = 0.42 * k, 0.27 * k  # body half-width / half-height
    wing, breast, crown, tail = (
        _shade(bird.colour(p), rng) for p in ("wing", "breast", "crown", "tail")
    )

    draw.line(
        (cx - 0.1 * k, cy + bh * 0.8, cx - 0.12 * k, cy + bh + 0.14 * k),
        fill=(60, 45, 30),
        width=max(1, s // 64),
    )
    draw.line(
        (cx + 0.06 * k, cy + bh * 0.8, cx + 0.04 * k, cy + bh + 0.14 * k),
        fill=(60, 45, 30),
        width=max(1, s // 64),
    )
    draw.polygon(
        [
            (cx - bw * 0.8, cy - 0.05 * k),
            (cx - bw - 0.3 * k, cy - 0.12 * k),
            (cx - bw - 0.28 * k, cy + 0.1 * k),
        ],
        fill=tail,
    )
    draw.ellipse((cx - bw, cy - bh, cx + bw, cy + bh), fill=wing)
    draw.chord((cx - bw, cy - bh, cx + bw, cy + bh), 10, 170, fill=breast)
    draw.ellipse(
        (cx - 0.28 * k, cy - bh * 0.75, cx + 0.12 * k, cy + bh * 0.2),
        fill=wing,
        outline=(30, 30, 30),
    )

    hr = 0.15 * k  # head radius, head sits at the front top of the body
    hx, hy = cx + bw * 0.85, cy - bh * 0.9
    draw.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=breast)
    draw.chord((hx - hr, hy - hr, hx + hr, hy + hr), 180, 360, fill=crown)
    er = max(1.0, 0.025 * k)
    draw.ellipse((hx + hr * 0.3 - er, hy - er, hx + hr * 0.3 + er, hy + er), fill=(10, 10, 10))

    bx = hx + hr * 0.9
    bill_colour = (70, 60, 40)
    if bird.bill == "short":
        draw.polygon(
            [(bx, hy - 0.04 * k), (bx + 0.1 * k, hy + 0.01 * k), (bx, hy + 0.05 * k)],
            fill=bill_colour,
        )
    elif bird.bill == "long":
        draw.polygon(
            [(bx, hy - 0.025 * k), (bx + 0.32 * k, hy + 0.03 * k), (bx, hy + 0.035 * k)],
            fill=bill_colour,
        )
    elif bird.bill == "hooked":
        draw.polygon(
            [
                (bx, hy - 0.05 * k),
                (bx + 0.12 * k, hy - 0.02 * k),
                (bx + 0.14 * k, hy + 0.08 * k),
                (bx + 0.06 * k, hy + 0.02 * k),
                (bx, hy + 0.05 * k),
            ],
            fill=bill_colour,
        )
    else:  # cone-shaped: short and deep
        draw.polygon(
            [
                (bx - 0.01 * k, hy - 0.08 * k),
                (bx + 0.12 * k, hy + 0.01 * k),
                (bx - 0.01 * k, hy + 0.09 * k),
            ],
            fill=bill_colour,
        )

    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image.resize((size, size), Image.Resampling.LANCZOS)


_PHRASES = {
    "crown": ("a {} crown", "a {} head", "a {} cap"),
    "wing": ("{} wings", "{} wing feathers", "{} wingbars"),
    "breast": ("a {} breast", "a {} belly", "a {} chest"),
    "tail": ("a {} tail", "{} tail feathers", "a {} rump"),
    "bill": ("a {} bill", "a {} beak"),
}
_AN = re.compile(r"\ba ([aeiou])")
_TEMPLATES = (
    "this bird has {list}.",
    "this is a {size} bird with {list}.",
    "a {size} bird with {list}.",
    "the bird has {list}.",
    "this {size} bird has {list}.",
    "this bird is {size} and has {list}.",
    "a bird with {list}.",
)


# How often people mention a part: the large, salient ones (breast, wings) more than the
# small ones that often tell fine-grained species apart (crown, tail).
_SALIENCE = {"crown": 0.12, "wing": 0.26, "breast": 0.32, "tail": 0.1, "bill": 0.2}


def describe(bird: Bird, rng: np.random.Generator) -> str:
    """One description mentioning 2-4 of ``bird``'s attributes, in varied wording."""
    aspects = list(_PHRASES)
    salience = np.array([_SALIENCE[a] for a in aspects])
    count = int(rng.integers(2, 5))
    chosen = rng.choice(len(aspects), size=count, replace=False, p=salience / salience.sum())
    phrases = []
    for i in chosen:
        aspect = aspects[i]
        value = bird.bill if aspect == "bill" else bird.colour(aspect)
        options = _PHRASES[aspect]
        phrases.append(options[rng.integers(len(options))].format(value))
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    return _AN.sub(r"an \1", template.format(list=listed, size=bird.size))


def attribute_features(
    birds: list[Bird], dim: int, rng: np.random.Generator, noise: float = 0.1
) -> np.ndarray:
    """CNN-like features (non-negative, ``dim`` wide) derived from the images' attributes.

    A fixed random projection of the one-hot attributes plus per-image noise, through a
    ReLU: linearly informative about every attribute, like pooled CNN features of the
    rendered bird would be, at no cost.
    """
    projection = rng.normal(0.0, 1.0 / np.sqrt(ATTRIBUTE_DIM), size=(ATTRIBUTE_DIM, dim))
    bias = rng.normal(0.2, 0.1, size=dim)
    features = np.empty((len(birds), dim), dtype=np.float32)
    for start in range(0, len(birds), 1024):  # in blocks: no float64 copy of the whole set
        block = birds[start : start + 1024]
        attributes = np.stack([b.vector() for b in block])
        raw = attributes @ projection + bias + rng.normal(0.0, noise, size=(len(block), dim))
        features[start : start + len(block)] = np.maximum(raw, 0.0)
    return features
