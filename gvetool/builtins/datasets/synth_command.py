"""``gvetool data synth``: the synthetic dataset's own command, registered by its spec.

Kept apart from :mod:`gvetool.builtins.datasets.synth` so building the CLI imports only Typer;
the generator (numpy, Pillow) is imported when the command runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gvetool.utils import console


def synth(
    out: Path = typer.Argument(..., help="Folder to write the dataset to."),
    classes: int = typer.Option(20, help="Number of bird classes."),
    images_per_class: int = typer.Option(30, help="Images per class (split 60/15/25)."),
    captions_per_image: int = typer.Option(10, help="Descriptions per image."),
    image_size: int = typer.Option(64, help="Image width and height in pixels."),
    seed: int = typer.Option(0, help="Random seed; the output is identical for a seed."),
    layout: str = typer.Option("cub", help="On-disk layout to imitate: cub or coco."),
    feature_dim: int = typer.Option(8192, help="Width of the CUB-layout feature vectors."),
    noise: float = typer.Option(0.1, help="Chance that an image's part differs from its class."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Generate the embedded synthetic birds dataset in the CUB (or COCO) layout."""
    from gvetool.builtins.datasets.synth import SynthOptions, generate

    options = SynthOptions(
        classes, images_per_class, captions_per_image, image_size, seed, layout, feature_dim, noise
    )
    start = time.perf_counter()
    counts = generate(out, options, force=force)
    console.out().print(
        f"wrote {counts['images']} images, {counts['captions']} captions, {counts['classes']} "
        f"classes ({layout} layout) to {out} in {time.perf_counter() - start:.1f} s"
    )
