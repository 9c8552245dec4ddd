"""The ``precomputed`` encoder: the features a dataset ships, converted to the store once."""

from __future__ import annotations

from pathlib import Path

from gvetool.data.corpus import Corpus
from gvetool.data.features import FeatureStore, open_precomputed
from gvetool.data.image_features import ExtractionOptions
from gvetool.utils.errors import GvetoolError


class PrecomputedFeatures:
    """Feature provider for datasets that ship features (CUB's ``CUB_feature_dict.p``)."""

    name = "precomputed"

    def __init__(self, **options: object) -> None:
        if options:
            given = ", ".join(f"--encoder-{k.replace('_', '-')}" for k in options)
            raise GvetoolError(f"the precomputed encoder takes no options (got {given})")

    def open_store(
        self, corpus: Corpus, cache_dir: Path | None, options: ExtractionOptions
    ) -> FeatureStore:
        return open_precomputed(corpus, cache_dir)
