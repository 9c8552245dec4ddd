"""Photos from outside the dataset: a pixel limit, lazy downscaling, a mistyped path."""

from __future__ import annotations

import warnings

import pytest
from PIL import Image

import gvetool
from gvetool.cli import main
from gvetool.data.image_features import MAX_PIXELS, read_image
from tests.hostile import png_header as _png_header


@pytest.mark.parametrize("side", [20000, 10000])
def test_a_photo_above_the_pixel_limit_is_refused_in_one_line(side, tmp_path):
    huge = _png_header(tmp_path / "huge.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own warning must not reach the user
        with pytest.raises(gvetool.DataError) as refused:
            read_image(huge, lambda image: image)
    message = str(refused.value)
    assert message == (
        f"image {huge} has {side * side / 1e6:.0f} megapixels, more than the "
        f"{MAX_PIXELS / 1e6:.0f} megapixels gvetool reads; downscale it first"
    )


def test_the_cli_refuses_a_huge_photo_with_one_line(runs, home, tmp_path, capsys):
    huge = _png_header(tmp_path / "huge.png", 20000, 20000)
    assert main(["explain", str(runs["cnn"].best), str(huge), "--class", "001"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: image {huge} has 400 megapixels") and "\n" not in err


def test_a_big_photo_is_shrunk_before_the_transform_and_a_small_one_is_not(tmp_path):
    seen = []
    big, small = tmp_path / "big.jpg", tmp_path / "small.png"
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(big)
    Image.new("RGB", (640, 480), (200, 30, 30)).save(small)
    read_image(big, seen.append, shrink=True)
    read_image(small, seen.append, shrink=True)
    read_image(big, seen.append)  # a dataset image: read as it is
    assert min(seen[0].size) >= 512 and min(seen[0].size) < 1500
    assert seen[1].size == (640, 480)
    assert seen[2].size == (4000, 3000)


def test_a_big_photo_explains_like_its_already_shrunk_copy(runs, home, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (2048, 2048), (40, 160, 40)).save(big)
    shrunk = tmp_path / "shrunk.png"
    Image.new("RGB", (2048, 2048), (40, 160, 40)).reduce(2).save(shrunk)
    explainer = gvetool.load(runs["cnn"].best)
    a, b = explainer.describe(images=[big, shrunk], classes="001")
    assert a.sentence == b.sentence


@pytest.mark.parametrize("typo", ["missing.png", "photos/missing.jpg"])
def test_a_mistyped_photo_path_is_a_missing_file_not_an_unknown_id(
    typo,
    runs,
    home,
    tmp_path,
    capsys,
    monkeypatch,
):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", str(runs["cnn"].best), typo, "--class", "001"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: missing image file {typo} (nor is it an image id of 'cub')"
    )
    with pytest.raises(gvetool.DataError, match=f"^missing image file {typo} "):
        gvetool.load(runs["cnn"].best).explain([typo], classes="001")


def test_an_unknown_id_that_looks_like_no_file_is_still_an_unknown_id(runs, home, capsys):
    assert main(["explain", str(runs["gve"].best), "no_such_bird"]) == 1
    assert "1 image id is not in 'cub' (no_such_bird)" in capsys.readouterr().err
