"""The stable surface for plugin packages: everything a plugin needs, from one module.

A plugin imports only from here (``from gvetool.api import ModelSpec, hookimpl, ...``);
the modules behind these names may be reorganised in any release, this module's names
keep their meaning. The packages in ``plugins/`` are held to it by a test, and
``docs/plugins.md`` lists every name with what it is for.

Names are loaded on first use, as the top-level package's are: a plugin's hook module
imports this at every ``gvetool`` invocation, and ``gvetool --help`` must not pay for
torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (module, attribute, what a plugin uses it for)
SURFACE: dict[str, tuple[str, str, str]] = {
    # registering
    "hookimpl": ("gvetool.hookspecs", "hookimpl", "marks a plugin's hook implementations"),
    "ModelSpec": ("gvetool.specs", "ModelSpec", "registers a model (its factory and task)"),
    "DatasetSpec": ("gvetool.specs", "DatasetSpec", "registers a dataset and its steps"),
    "EncoderSpec": ("gvetool.specs", "EncoderSpec", "registers an image encoder (family)"),
    "MetricSpec": ("gvetool.specs", "MetricSpec", "registers a metric: its keys, needs, ranking"),
    "TrackerSpec": ("gvetool.specs", "TrackerSpec", "registers an experiment tracker"),
    "LauncherSpec": ("gvetool.specs", "LauncherSpec", "registers a job launcher (cv, reproduce)"),
    "Task": ("gvetool.tasks", "Task", "a kind of model: contract, validation, best metric"),
    "CAPTIONING": ("gvetool.tasks", "CAPTIONING", "the task of sentence generators"),
    "CLASSIFICATION": ("gvetool.tasks", "CLASSIFICATION", "the task of sentence classifiers"),
    # the model contract
    "CaptioningModel": ("gvetool.contracts", "CaptioningModel", "what a captioner provides"),
    "SentenceClassifierModel": (
        "gvetool.contracts", "SentenceClassifierModel", "what a sentence classifier provides",
    ),
    "RewardedModel": ("gvetool.contracts", "RewardedModel", "what a rewarded model provides"),
    "TransferableModel": (
        "gvetool.contracts", "TransferableModel", "what gvetool transfer needs of a model",
    ),
    "missing_members": (
        "gvetool.contracts", "missing_members", "the members an object lacks for a protocol",
    ),
    # data
    "Corpus": ("gvetool.data.corpus", "Corpus", "a dataset: named splits, classes, images"),
    "Split": ("gvetool.data.corpus", "Split", "one split: image ids, captions, class ids"),
    "CaptionBatch": ("gvetool.data.captions", "CaptionBatch", "the batch a model's loss gets"),
    "Vocabulary": ("gvetool.data.vocab", "Vocabulary", "token ids, with pad/start/end/unk"),
    "ImageEncoder": (
        "gvetool.data.encoder", "ImageEncoder", "what an encoder factory returns for a CNN",
    ),
    # models
    "decode": ("gvetool.decoding", "decode", "greedy or sampled decoding over a step function"),
    "beam_search": ("gvetool.decoding", "beam_search", "beam search over a step function"),
    "execution_for": (
        "gvetool.models.execution", "execution_for", "how a device runs models (kernels, sampling)",
    ),
    "SentenceClassifierReward": (
        "gvetool.reward", "SentenceClassifierReward", "the mixin of GVE's reward",
    ),
    "REWARD_DROPOUT": (
        "gvetool.models.reinforce_options", "REWARD_DROPOUT",
        "--reward-dropout's schedules (first epoch or None)",
    ),
    "ReinforceOptions": (
        "gvetool.models.reinforce_options", "ReinforceOptions",
        "GVE's options (lambda, baseline, reward dropout), to declare or inherit",
    ),
    "ModelShape": ("gvetool.specs", "ModelShape", "the sizes a model factory is built for"),
    "TrainConfig": ("gvetool.config", "TrainConfig", "a run's configuration (resolved)"),
    # metrics
    "ScoringInput": (
        "gvetool.evaluation.scoring", "ScoringInput", "what a metric scores: sentences, needs",
    ),
    "MetricResult": (
        "gvetool.evaluation.scoring", "MetricResult", "what a metric returns: totals, per image",
    ),
    "TrainingCaptions": (
        "gvetool.evaluation.scoring", "TrainingCaptions", "the training captions a metric needs",
    ),
    "MetricUnavailable": (
        "gvetool.errors", "MetricUnavailable", "raised by a metric that cannot run: skipped",
    ),
    # trackers
    "TrackedRun": ("gvetool.engine.tracking", "TrackedRun", "what a tracker is told at start"),
    "EpochRecord": ("gvetool.engine.tracking", "EpochRecord", "what a tracker gets per epoch"),
    "TrackerUnavailable": (
        "gvetool.errors", "TrackerUnavailable", "raised by a tracker whose library is missing",
    ),
    # launchers
    "Job": ("gvetool.jobs", "Job", "one run a launcher trains: argv(), run_here(), after"),
    "JobOutcome": ("gvetool.jobs", "JobOutcome", "how a job ended: finished, failed, ..."),
    # files, errors, places
    "read_json": ("gvetool.io", "read_json", "reads JSON with a one-line error if damaged"),
    "write_json": ("gvetool.io", "write_json", "writes JSON atomically"),
    "write_text": ("gvetool.io", "write_text", "writes text atomically"),
    "atomic_write": ("gvetool.io", "atomic_write", "opens a file that appears only when done"),
    "load_pickle": (
        "gvetool.safe_pickle", "load_pickle", "unpickles legacy data without running code",
    ),
    "safe_extract": (
        "gvetool.archives", "safe_extract", "extracts an archive inside a folder only",
    ),
    "GvetoolError": ("gvetool.errors", "GvetoolError", "a user error: one line, exit 1"),
    "DataError": ("gvetool.errors", "DataError", "a GvetoolError about missing/damaged data"),
    "default_data_root": (
        "gvetool.paths", "default_data_root", "where a dataset lives without --data-root",
    ),
    # testing a plugin
    "run_cli": ("gvetool.cli", "main", "runs gvetool in-process: run_cli([...]) -> exit code"),
    "load_checkpoint": (
        "gvetool.engine.checkpoint", "load_checkpoint", "reads a checkpoint safely, checked",
    ),
    "get_plugins": ("gvetool.plugins", "get_plugins", "the loaded plugins and registries"),
    "reset_plugins": ("gvetool.plugins", "reset_plugins", "forgets them (reloaded on next use)"),
    "SynthOptions": ("gvetool.datasets.synth", "SynthOptions", "the synthetic birds' sizes"),
    "generate_synth": ("gvetool.datasets.synth", "generate", "writes synthetic birds to a folder"),
}  # fmt: skip

__all__ = sorted(SURFACE)


def __getattr__(name: str) -> Any:
    try:
        module, attribute, _ = SURFACE[name]
    except KeyError:
        raise AttributeError(f"module 'gvetool.api' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return __all__
