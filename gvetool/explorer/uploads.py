"""An uploaded photo, checked before it costs anything: size, then pixels, then decoding.

The body's size is capped while it arrives (:mod:`gvetool.explorer.app`); here the image's
header is read first and a picture above :data:`~gvetool.data.image_features.MAX_PIXELS`
is refused before a pixel of it is decoded. What passes is decoded at once, shrunk as
``gvetool explain`` shrinks a photo, so a truncated or corrupt file fails here, as a 4xx,
and not later inside the model.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from gvetool.data.image_features import MAX_PIXELS, bomb_pixels, shrunk

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a camera's JPEG is 3-12 MB


class BadUpload(Exception):
    """A request the server refuses: ``status`` (4xx) and the one line it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_upload(data: bytes) -> Image.Image:
    """The uploaded bytes as a small RGB image, or :class:`BadUpload` saying why not."""
    if not data:
        raise BadUpload(400, "the uploaded file is empty")
    try:
        image = Image.open(io.BytesIO(data))  # the header only
    except Image.DecompressionBombError as exc:
        raise _too_large(bomb_pixels(exc)) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise BadUpload(415, "the uploaded file is not an image (JPEG, PNG, ...)") from None
    if image.width * image.height > MAX_PIXELS:
        raise _too_large(image.width * image.height)
    try:
        return shrunk(image).convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's words for a broken file
        raise BadUpload(422, f"the uploaded image cannot be decoded: {exc}") from None


def _too_large(pixels: int) -> BadUpload:
    return BadUpload(
        413,
        f"the uploaded image has {pixels / 1e6:.0f} megapixels, more than the "
        f"{MAX_PIXELS / 1e6:.0f} megapixels gvetool reads; downscale it first",
    )
