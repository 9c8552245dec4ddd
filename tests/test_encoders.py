"""torchvision encoders: layer cutting, weights imagenet|none|PATH, offline errors."""

from __future__ import annotations

import pickle
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from gvetool.builtins.encoders.torchvision_backbones import build_backbone, layers_of
from gvetool.kernel.manager import load_plugins
from gvetool.utils.errors import GvetoolError


def test_resnet_cut_gives_pooled_features_and_deeper_cuts_pool_maps():
    encoder = build_backbone("resnet18", "none", remove_last=1)
    assert encoder.module(torch.zeros(2, 3, 64, 64)).shape == (2, 512)
    assert build_backbone("resnet18", "none", 3).module(torch.zeros(1, 3, 64, 64)).shape == (1, 256)
    assert build_backbone("resnet18", "none", 0).module(torch.zeros(1, 3, 64, 64)).shape == (
        1,
        1000,
    )
    assert encoder.fingerprint == "resnet18|random-init-seed0|-1"


def test_random_init_is_the_same_every_time():
    a = build_backbone("resnet18", "none").module.state_dict()
    b = build_backbone("resnet18", "none").module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_vgg_layers_are_counted_like_caffe_fc7_is_one_from_the_end():
    layers = layers_of(torchvision.models.vgg11(weights=None))
    assert isinstance(layers[-1], nn.Linear) and layers[-1].out_features == 1000
    assert isinstance(layers[-4], nn.Linear) and layers[-4].out_features == 4096


def test_remove_last_out_of_range():
    with pytest.raises(GvetoolError, match="--remove-last must be between 0 and 9 for resnet18"):
        build_backbone("resnet18", "none", remove_last=10)


def test_imagenet_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(GvetoolError) as excinfo:
        build_backbone("resnet18", "imagenet")
    message = str(excinfo.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "--encoder-weights none|PATH" in message


def test_imagenet_weights_placed_by_hand_are_used(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    state = torchvision.models.resnet18(weights=None).state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    encoder = build_backbone("resnet18", "imagenet")
    assert "IMAGENET1K_V1" in encoder.fingerprint
    assert torch.equal(encoder.module.layers[0].weight, state["conv1.weight"])


def test_weights_from_a_path(tmp_path):
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": torchvision.models.resnet18(weights=None).state_dict()}, path)
    assert build_backbone("resnet18", str(path)).fingerprint.startswith("resnet18|file:")
    with pytest.raises(GvetoolError, match="do not fit resnet34"):
        build_backbone("resnet34", str(path))
    with pytest.raises(GvetoolError, match="no such file"):
        build_backbone("resnet18", str(tmp_path / "nope.pth"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_file_with_code_in_it_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(GvetoolError, match="is not a loadable state dict"):
        build_backbone("resnet18", str(path))


def test_builtin_encoders_are_registered_through_the_plugin_manager():
    encoders = load_plugins().encoders
    expected = {"precomputed", "resnet50", "resnet152", "vgg16", "vgg19_bn"}
    assert expected <= set(encoders.names())
    assert encoders.provider("resnet50").distribution == "gvetool"
