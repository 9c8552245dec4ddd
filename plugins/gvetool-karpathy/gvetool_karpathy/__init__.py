"""The gvetool plugin: registers the Karpathy-split datasets (no torch imported here)."""

from gvetool.plugin_api import DatasetSpec, hookimpl

DATASETS = {
    "flickr8k": "Flickr8k, Karpathy split",
    "flickr30k": "Flickr30k, Karpathy split",
    "coco-karpathy": "COCO 2014, Karpathy split (train includes restval)",
}


@hookimpl
def gvetool_register_datasets(register):
    for name, description in DATASETS.items():
        register(
            DatasetSpec(
                name=name,
                description=description,
                target=f"gvetool_karpathy.loader:open_{name.replace('-', '_')}",
                has_classes=False,
            )
        )
