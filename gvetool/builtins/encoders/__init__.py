"""Built-in encoder plugins: torchvision ResNets and VGGs, and the dataset's own features.

This module is what the ``encoders`` entry point names; torchvision is imported only
when an encoder is built.
"""

from collections.abc import Callable
from typing import Any

from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.specs import EncoderSpec

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
VGGS = tuple(f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn"))


def _torchvision(arch: str) -> Callable[..., Any]:
    def build(weights: str = "imagenet", remove_last: int = 1) -> Any:
        from gvetool.builtins.encoders.torchvision_backbones import build_backbone

        return build_backbone(arch, weights, remove_last)

    build.__doc__ = f"torchvision {arch}: weights imagenet|none|PATH, last N layers removed."
    return build


@hookimpl
def gvetool_register_encoders(register):
    register(
        EncoderSpec(
            name="precomputed",
            description="The features the dataset ships (e.g. CUB_feature_dict.p)",
            target="gvetool.builtins.encoders.precomputed:PrecomputedFeatures",
        )
    )
    for arch in RESNETS + VGGS:
        register(
            EncoderSpec(
                name=arch,
                description=f"torchvision {arch} (pooled features; imagenet|none|PATH weights)",
                target=_torchvision(arch),
            )
        )
