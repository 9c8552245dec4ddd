"""The plugin API: everything a plugin package needs, from one module.

A plugin imports only from here (``from gvetool.plugin_api import ModelSpec, hookimpl``);
the modules behind these names may be reorganised in any release, this module's names
keep their meaning. The packages in ``plugins/`` are held to it by a test, and the plugin
guide (``docs/plugins.md``) lists every name with what it is for.

A plugin's hook module imports this at every ``gvetool`` invocation and ``gvetool --help``
must not pay for torch: the names whose modules import torch, numpy or Typer are loaded
on first use (:data:`LOADED_ON_FIRST_USE`), the rest are imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gvetool.config.schema import TrainConfig
from gvetool.engine.tracking import EpochRecord, TrackedRun
from gvetool.kernel.contracts import (
    CaptioningModel,
    RewardedModel,
    SentenceClassifierModel,
    TransferableModel,
    missing_members,
)
from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.manager import get_plugins, reset_plugins
from gvetool.kernel.specs import (
    DatasetSpec,
    EncoderSpec,
    LauncherSpec,
    MetricSpec,
    ModelShape,
    ModelSpec,
    TrackerSpec,
)
from gvetool.kernel.tasks import CAPTIONING, CLASSIFICATION, Task
from gvetool.nn.reinforce_options import REWARD_DROPOUT, ReinforceOptions
from gvetool.utils.archives import safe_extract
from gvetool.utils.errors import DataError, GvetoolError, MetricUnavailable, TrackerUnavailable
from gvetool.utils.files import atomic_write, read_json, write_json, write_text
from gvetool.utils.paths import default_data_root
from gvetool.utils.safe_pickle import load_pickle
from gvetool.workflows.jobs import Job, JobOutcome

if TYPE_CHECKING:  # the names loaded on first use, for type checkers and editors
    from gvetool.builtins.datasets.synth import SynthOptions
    from gvetool.builtins.datasets.synth import generate as generate_synth
    from gvetool.cli import main as run_cli
    from gvetool.data.corpus import Corpus, Split
    from gvetool.data.image_features import ImageEncoder
    from gvetool.data.vocab import Vocabulary
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.evaluation.scoring import MetricResult, ScoringInput, TrainingCaptions
    from gvetool.kernel.batch import CaptionBatch
    from gvetool.nn.decoding import beam_search, decode
    from gvetool.nn.execution import execution_for
    from gvetool.nn.reward import SentenceClassifierReward


def _batch() -> ModuleType:
    from gvetool.kernel import batch

    return batch


def _corpus() -> ModuleType:
    from gvetool.data import corpus

    return corpus


def _vocab() -> ModuleType:
    from gvetool.data import vocab

    return vocab


def _image_features() -> ModuleType:
    from gvetool.data import image_features

    return image_features


def _decoding() -> ModuleType:
    from gvetool.nn import decoding

    return decoding


def _execution() -> ModuleType:
    from gvetool.nn import execution

    return execution


def _reward() -> ModuleType:
    from gvetool.nn import reward

    return reward


def _scoring() -> ModuleType:
    from gvetool.evaluation import scoring

    return scoring


def _checkpoint() -> ModuleType:
    from gvetool.engine import checkpoint

    return checkpoint


def _cli() -> ModuleType:
    import gvetool.cli as cli

    return cli


def _synth() -> ModuleType:
    from gvetool.builtins.datasets import synth

    return synth


# name -> (the module that holds it, its name there)
LOADED_ON_FIRST_USE: dict[str, tuple[Callable[[], ModuleType], str]] = {
    "CaptionBatch": (_batch, "CaptionBatch"),
    "Corpus": (_corpus, "Corpus"),
    "Split": (_corpus, "Split"),
    "Vocabulary": (_vocab, "Vocabulary"),
    "ImageEncoder": (_image_features, "ImageEncoder"),
    "decode": (_decoding, "decode"),
    "beam_search": (_decoding, "beam_search"),
    "execution_for": (_execution, "execution_for"),
    "SentenceClassifierReward": (_reward, "SentenceClassifierReward"),
    "ScoringInput": (_scoring, "ScoringInput"),
    "MetricResult": (_scoring, "MetricResult"),
    "TrainingCaptions": (_scoring, "TrainingCaptions"),
    "load_checkpoint": (_checkpoint, "load_checkpoint"),
    "run_cli": (_cli, "main"),
    "SynthOptions": (_synth, "SynthOptions"),
    "generate_synth": (_synth, "generate"),
}

__all__ = [
    "CAPTIONING",
    "CLASSIFICATION",
    "REWARD_DROPOUT",
    "CaptionBatch",
    "CaptioningModel",
    "Corpus",
    "DataError",
    "DatasetSpec",
    "EncoderSpec",
    "EpochRecord",
    "GvetoolError",
    "ImageEncoder",
    "Job",
    "JobOutcome",
    "LauncherSpec",
    "MetricResult",
    "MetricSpec",
    "MetricUnavailable",
    "ModelShape",
    "ModelSpec",
    "ReinforceOptions",
    "RewardedModel",
    "ScoringInput",
    "SentenceClassifierModel",
    "SentenceClassifierReward",
    "Split",
    "SynthOptions",
    "Task",
    "TrackedRun",
    "TrackerSpec",
    "TrackerUnavailable",
    "TrainConfig",
    "TrainingCaptions",
    "TransferableModel",
    "Vocabulary",
    "atomic_write",
    "beam_search",
    "decode",
    "default_data_root",
    "execution_for",
    "generate_synth",
    "get_plugins",
    "hookimpl",
    "load_checkpoint",
    "load_pickle",
    "missing_members",
    "read_json",
    "reset_plugins",
    "run_cli",
    "safe_extract",
    "write_json",
    "write_text",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = LOADED_ON_FIRST_USE[name]
    except KeyError:
        raise AttributeError(f"module 'gvetool.plugin_api' has no attribute {name!r}") from None
    value = getattr(module(), attribute)
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return __all__
