"""torchvision ResNets and VGGs as feature extractors, with "remove the last N layers".

Layers are counted the way the original work did: a ResNet is ``conv1 ... layer4, avgpool,
fc`` and a VGG is ``features, avgpool, classifier[0..6]``; removing the last layer gives
the pooled 2048-d ResNet-50 feature or VGG fc7 (4096-d). A cut that ends on a spatial map
is average-pooled, so an encoder always yields one vector per image.

Weights: ``imagenet`` (torchvision's IMAGENET1K_V1, from the torch hub cache; offline, the
error names the file and where to put it), ``none`` (random init, for tests and for
training from scratch) or a path to a state dict, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import transforms

from gvetool.data.download import fetch
from gvetool.data.image_features import ImageEncoder
from gvetool.utils.errors import GvetoolError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Truncated(nn.Module):
    """The first layers of a backbone, flattening before linear layers, pooling at the end."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if isinstance(layer, nn.Linear) and x.dim() > 2:
                x = torch.flatten(x, 1)
            x = layer(x)
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x


def layers_of(model: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for name, child in model.named_children():
        if name == "classifier" and isinstance(child, nn.Sequential):
            layers.extend(child)
        else:
            layers.append(child)
    return layers


def _imagenet_state(arch: str) -> tuple[dict[str, torch.Tensor], str]:
    weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    destination = Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    try:
        fetch(weights.url, destination)
    except GvetoolError as exc:
        raise GvetoolError(
            f"ImageNet weights for {arch}: {exc}; or use --encoder-weights none|PATH"
        ) from None
    state = torch.load(destination, map_location="cpu", weights_only=True)
    return state, str(weights)


def _file_state(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if not path.is_file():
        raise GvetoolError(
            f"--encoder-weights: no such file {path} (use imagenet, none or a .pth path)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GvetoolError(
            f"{path} is not a loadable state dict ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return state, f"file:{digest}"


def build_backbone(arch: str, weights: str = "imagenet", remove_last: int = 1) -> ImageEncoder:
    """The ``arch`` backbone with its last ``remove_last`` layers removed."""
    with torch.random.fork_rng():  # a random-init encoder is the same in every run
        torch.manual_seed(0)
        model = torchvision.models.get_model(arch, weights=None)
    identity = "random-init-seed0"
    if weights != "none":
        if weights == "imagenet":
            state, identity = _imagenet_state(arch)
        else:
            state, identity = _file_state(Path(weights))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
            raise GvetoolError(f"--encoder-weights {weights} do not fit {arch}: {first}") from None
    layers = layers_of(model)
    if not 0 <= remove_last < len(layers):
        raise GvetoolError(f"--remove-last must be between 0 and {len(layers) - 1} for {arch}")
    transform = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    return ImageEncoder(
        name=arch,
        module=Truncated(layers[: len(layers) - remove_last]).eval(),
        transform=transform,
        fingerprint=f"{arch}|{identity}|-{remove_last}",
    )
