"""Built-in dataset plugins: synth, cub, coco.

This module is what the ``datasets`` entry point names. It only registers specs; the
loaders are imported when a dataset is opened, so start-up stays fast.
"""

from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.specs import DatasetSpec


@hookimpl
def gvetool_register_datasets(register):
    register(
        DatasetSpec(
            name="synth",
            description="Embedded synthetic birds in CUB layout (generated on first use)",
            target="gvetool.builtins.datasets.synth:open_synth",
            generate="gvetool.builtins.datasets.synth:generate_step",
            command="gvetool.builtins.datasets.synth_command:synth",
        )
    )
    register(
        DatasetSpec(
            name="cub",
            description="CUB-200-2011 with the GVE release's descriptions and features",
            target="gvetool.builtins.datasets.cub:open_cub",
            prepare="gvetool.builtins.datasets.cub:prepare_cub",
            download="gvetool.builtins.datasets.cub:download_cub",
        )
    )
    for part in (1, 2):
        register(
            DatasetSpec(
                name=f"cub{part}",
                description=f"CUB classes of part {part} of the default class split (0.5, seed 0)",
                target=f"gvetool.builtins.datasets.cub:open_cub{part}",
            )
        )
    register(
        DatasetSpec(
            name="coco",
            description="COCO 2014 captions (test = val2014); no classes",
            target="gvetool.builtins.datasets.coco:open_coco",
            download="gvetool.builtins.datasets.coco:download_coco",
            has_classes=False,
        )
    )
