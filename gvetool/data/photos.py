"""Images from outside the dataset (files, PIL images, tensors) as a run's features.

A run trained on an image encoder's features can describe any photo: the photo goes
through that encoder with exactly the transform its feature store was built with
(:class:`gvetool.data.image_features.ImageEncoder`), in batches. A run trained on features a
dataset ships (CUB's compact bilinear features) cannot: nothing here can compute them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gvetool.data.captions import batches
from gvetool.data.image_features import FeatureProvider, ImageEncoder, read_image, shrunk
from gvetool.utils.errors import DataError, GvetoolError
from gvetool.utils.progress import progress_bar

ImageInput = Any  # a path (str or Path), a PIL image, or a [3, H, W] tensor


def label_of(image: ImageInput, index: int) -> str:
    """How results name an input image: its path, else its position."""
    if isinstance(image, (str, Path)):
        return str(image)
    return f"<{type(image).__name__} {index}>"


def looks_like_a_file(text: str) -> bool:
    """Whether ``text`` reads as a path to an image file: an image suffix, or a folder."""
    path = Path(text)
    return path.suffix.lower() in Image.registered_extensions() or len(path.parts) > 1


def photo_encoder(provider: FeatureProvider, encoder_name: str, model: str) -> ImageEncoder:
    """The run's encoder, if it can encode photos; else one line saying what to do."""
    if isinstance(provider, ImageEncoder):
        return provider
    raise GvetoolError(
        f"this '{model}' run was trained on features the dataset ships (encoder "
        f"'{encoder_name}'), which cannot be computed for a photo; explain the dataset's "
        "images by id, or train on an image encoder (e.g. --encoder resnet50) to explain photos"
    )


def _as_tensor(image: ImageInput, index: int, encoder: ImageEncoder) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise DataError(
                f"image {index} is a tensor of shape {tuple(image.shape)}; give [3, H, W] "
                "already transformed as the encoder expects, or a file or PIL image"
            )
        return image.float()
    if isinstance(image, Image.Image):
        return encoder.transform(shrunk(image).convert("RGB"))
    if isinstance(image, (str, Path)):
        return read_image(Path(image), encoder.transform, shrink=True)
    raise DataError(
        f"image {index} is a {type(image).__name__}; give a file path, a PIL image or a tensor"
    )


@torch.inference_mode()
def encode_images(
    encoder: ImageEncoder,
    images: Sequence[ImageInput],
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> torch.Tensor:
    """The encoder's feature vector of each image, ``[N, D]`` float32, in input order.

    Computed as :func:`gvetool.data.image_features.extract_features` computes a feature store's
    rows (same transform, eval mode, float32 result), so a dataset image given as a file
    gets its store's vector up to float rounding.
    """
    module = encoder.module.to(device).eval()
    rows = []
    with progress_bar(len(images), f"encoding {len(images)} images with {encoder.name}") as advance:
        for indices in batches(len(images), batch_size):
            batch = torch.stack([_as_tensor(images[i], int(i), encoder) for i in indices])
            rows.append(module(batch.to(device)).float().cpu())
            advance(len(indices))
    if not rows:
        return torch.zeros(0, 0)
    return torch.cat(rows)
