"""The gvetool plugin: registers the ``timm`` encoder family (timm is imported on use)."""

from gvetool.plugin_api import EncoderSpec, hookimpl


@hookimpl
def gvetool_register_encoders(register):
    register(
        EncoderSpec(
            name="timm",
            description="any timm model, pooled features: --encoder timm:<model>",
            target="gvetool_timm.encoder:build",
            variants=True,
        )
    )
