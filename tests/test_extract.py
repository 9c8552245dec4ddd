"""Feature extraction from images into the store: once, batched, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from torch import nn
from torchvision import transforms

from gvetool.builtins.datasets import cub
from gvetool.cli import main
from gvetool.data.image_features import (
    PROGRESS_FILE,
    ExtractionOptions,
    ImageEncoder,
    all_images,
    extract_features,
)
from gvetool.utils.errors import GvetoolError


class MeanColour(nn.Module):
    """A transparent 'encoder': the mean colour of each image, counting what it sees."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.seen, self.calls, self.fail_after = 0, 0, fail_after

    def forward(self, x):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        self.seen += len(x)
        return x.mean(dim=(2, 3))


def _encoder(module: nn.Module) -> ImageEncoder:
    return ImageEncoder("meancolour", module, transforms.ToTensor(), "meancolour|v1")


def test_features_are_computed_for_every_image_once(tiny_cub):
    corpus = cub.open_cub(tiny_cub)
    module = MeanColour()
    store = extract_features(corpus, _encoder(module), None, ExtractionOptions(batch_size=6))
    ids, paths = all_images(corpus)
    assert store.image_ids == ids and store.dim == 3 and module.seen == 20
    expected = np.asarray(Image.open(paths[4]).convert("RGB"), dtype=np.float32).mean((0, 1)) / 255
    np.testing.assert_allclose(store.array[4], expected, rtol=1e-5)
    again = extract_features(corpus, _encoder(module), None, ExtractionOptions(batch_size=6))
    assert module.seen == 20 and again.directory == store.directory


def test_an_interrupted_extraction_resumes_where_it_stopped(tiny_cub):
    corpus = cub.open_cub(tiny_cub)
    options = ExtractionOptions(batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        extract_features(corpus, _encoder(MeanColour(fail_after=2)), None, options)
    partial_dirs = list((tiny_cub.parent / "gvetool-home" / "features").iterdir())
    progress = json.loads((partial_dirs[0] / PROGRESS_FILE).read_text())
    assert progress["done"] == 8
    resumed_module = MeanColour()
    resumed = extract_features(corpus, _encoder(resumed_module), None, options)
    assert resumed_module.seen == 12
    fresh = extract_features(
        corpus, ImageEncoder("other", MeanColour(), transforms.ToTensor(), "x"), None, options
    )
    np.testing.assert_array_equal(np.asarray(resumed.array), np.asarray(fresh.array))
    assert not (resumed.directory / PROGRESS_FILE).exists()


def test_missing_images_are_counted_before_any_work(tiny_cub):
    corpus = cub.open_cub(tiny_cub)
    _, paths = all_images(corpus)
    paths[0].unlink()
    paths[5].unlink()
    module = MeanColour()
    with pytest.raises(GvetoolError, match="2 images of 'cub' are missing"):
        extract_features(corpus, _encoder(module), None, ExtractionOptions())
    assert module.calls == 0


def test_cli_features_with_a_torchvision_encoder(tiny_cub, capsys):
    args = ["data", "features", "--dataset", "cub", "--data-root", str(tiny_cub)]
    assert main([*args, "--encoder", "resnet18", "--weights", "none", "--batch-size", "8"]) == 0
    assert "20 images, 512-d features" in capsys.readouterr().out


def test_cli_precomputed_encoder_takes_no_weights(tiny_cub, capsys):
    args = ["data", "features", "--dataset", "cub", "--data-root", str(tiny_cub)]
    assert main([*args, "--encoder", "precomputed"]) == 0
    assert "20 images, 16-d features" in capsys.readouterr().out
    assert main([*args, "--encoder", "precomputed", "--weights", "none"]) == 1
    assert "takes no options (got --encoder-weights)" in capsys.readouterr().err


def test_cli_unknown_encoder(capsys):
    assert main(["data", "features", "--dataset", "cub", "--encoder", "resnet05"]) == 1
    assert "unknown encoder 'resnet05'" in capsys.readouterr().err
