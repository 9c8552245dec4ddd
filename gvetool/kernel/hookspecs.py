"""The plugin contract: every hook a gvetool plugin may implement.

A plugin is a module (or object) named by an entry point in the ``gvetool`` group::

    [project.entry-points.gvetool]
    toy = "gvetool_toy"

gvetool imports it at start-up and calls the hooks below that it implements, marked with
:data:`hookimpl`. The built-in models, datasets and encoders are plugins of exactly this
kind, registered through gvetool's own ``pyproject.toml``; nothing in the core imports them
by name, so a third-party package is on an equal footing with them.

Why registration hooks receive a ``register`` callable instead of returning specs: each
plugin is given its own ``register``, so a name clash can be reported with both
distributions named, and a plugin that fails half-way can be rolled back alone.

Import cost matters: a plugin module is imported on every ``gvetool`` invocation. Give the
spec a ``"module:attribute"`` target and import torch (or anything heavy) only there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from gvetool.kernel.specs import (
        DatasetSpec,
        EncoderSpec,
        LauncherSpec,
        MetricSpec,
        ModelSpec,
        TrackerSpec,
    )

PROJECT_NAME = "gvetool"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def gvetool_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model architectures, e.g. ``register(ModelSpec(name="gve", ...))``.

    Why: ``gvetool train NAME`` looks the name up here, so a new architecture needs no
    change to the core. The spec declares what the engine must know without comparing
    names: its ``task`` (:mod:`gvetool.kernel.tasks`: the contract, how it is validated, which
    number picks ``best.pt``), ``needs_classes``, ``reward_model`` (the model whose frozen
    checkpoint gives the reward) and ``class_conditioned``.

    The target is called as ``target(shape, options)``: a
    :class:`gvetool.kernel.specs.ModelShape` (the data's sizes and the run's generic sizes)
    and an instance of the spec's ``options`` dataclass (``None`` without one). It returns
    an ``nn.Module`` meeting its task's protocol in :mod:`gvetool.kernel.contracts`
    (``CaptioningModel``: ``loss``, ``generate``, ``beam_search``;
    ``SentenceClassifierModel``: ``loss`` and ``forward(tokens, lengths)``), plus
    ``RewardedModel.attach_sentence_classifier(classifier, token_map)`` where the spec
    names a ``reward_model``. The built model is checked against them and refused with one
    line naming a missing member. Optional (:class:`gvetool.kernel.contracts.OptionalMembers`):
    ``loss_terms(batch)`` (the trainer then backpropagates ``loss(batch, term)`` term by
    term; under DDP every term must use every trainable parameter),
    ``fixed_shape_loss(batch, mean_over)`` (what ``--cuda-graph`` captures: fixed shapes,
    nothing read back to the host), ``start_epoch(epoch)``, and the
    ``TransferableModel`` members that ``gvetool transfer`` needs.
    """


@hookspec
def gvetool_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets, e.g. ``register(DatasetSpec(name="cub", ...))``.

    Why: ``--dataset NAME`` is resolved here; set ``has_classes=False`` for caption-only
    corpora so class-conditioned models refuse them clearly.

    The target is called as ``target(data_root: Path | None) -> gvetool.data.corpus.Corpus``
    (``None``: the dataset's default location) and raises ``GvetoolError`` naming every
    missing file. Give the corpus a ``features`` source if the dataset ships precomputed
    features; otherwise features are computed from its images by an encoder.
    """


@hookspec
def gvetool_register_encoders(register: Callable[[EncoderSpec], None]) -> None:
    """Register image encoders, e.g. ``register(EncoderSpec(name="resnet50", ...))``.

    Why: ``--encoder NAME`` is resolved here, so a new backbone drops in with
    ``pip install`` and its features go through the same feature store.

    The target is called with the options the user gave (``weights=...``,
    ``remove_last=...``) and returns a :class:`gvetool.data.image_features.FeatureProvider`; an
    :class:`gvetool.data.image_features.ImageEncoder` (module, transform, fingerprint) is one.
    """


@hookspec
def gvetool_register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register measures of generated sentences, e.g. ``register(MetricSpec(name="lexical",
    keys=("distinct_2", ...), ...))``.

    Why: ``gvetool eval --metrics``, ``--val-metrics`` (which also picks ``best.pt``), the
    report and the summary tables take any registered metric, so a new measure needs no
    change to the core. The built-in BLEU, METEOR, ROUGE-L, CIDEr, SPICE, class relevance,
    judge, explanation accuracy and repetition measures are registered this way.

    The target is called with no arguments and returns an object with
    ``score(scoring) -> MetricResult`` (``scoring``: :class:`gvetool.plugin_api.ScoringInput`, the
    sentences with what the spec's ``needs`` asked for) and ``close()``.
    """


@hookspec
def gvetool_register_trackers(register: Callable[[TrackerSpec], None]) -> None:
    """Register experiment trackers, e.g. ``register(TrackerSpec(name="mlflow", ...))``.

    Why: research groups compare runs in MLflow, Weights & Biases or Aim; ``--tracker
    NAME[,NAME]`` (``tracker = "..."`` in TOML) sends a run there with no change to the
    core. ``metrics.jsonl`` (always on) and TensorBoard (on by default where installed)
    are the built-in trackers.

    The target is called with no arguments and returns an object with
    ``start(run)`` (:class:`gvetool.plugin_api.TrackedRun`: run directory, resolved config,
    whether it resumes), ``log_epoch(record)`` (:class:`gvetool.plugin_api.EpochRecord`) and
    ``finish(status, best)`` (``finished``/``interrupted``/``failed``, ``best.pt`` or
    ``None``). An exception from any of them is one warning line; the tracker is then
    dropped for the rest of the run and training goes on.
    """


@hookspec
def gvetool_register_launchers(register: Callable[[LauncherSpec], None]) -> None:
    """Register job launchers, e.g. ``register(LauncherSpec(name="slurm", ...))``.

    Why: ``gvetool cv`` and ``gvetool reproduce`` train several independent runs (folds,
    models, seeds), hours of GPU time each on real data; ``--launcher NAME`` runs them one
    after another in this process (``sequential``, the default), as parallel local
    processes (``local``) or as cluster jobs, with no change to the core.

    The target is called with the launcher's options (an instance of the spec's
    ``options`` dataclass) and returns an object whose ``launch(jobs)`` runs a sequence of
    :class:`gvetool.plugin_api.Job` — each one after those its ``after`` names; ``job.argv()`` is
    the command that runs it anywhere gvetool is installed — and returns one
    :class:`gvetool.plugin_api.JobOutcome` per job, in order: finished, failed (with its log),
    or not run because a job it needs failed.
    """


@hookspec
def gvetool_register_commands(app: typer.Typer) -> None:
    """Add CLI commands or sub-apps to the ``gvetool`` Typer application.

    Why: a plugin that brings a dataset often brings a tool to prepare it
    (``app.add_typer(sub, name="flickr")`` or ``app.command("hello")(fn)``). A command
    whose name is already taken is refused with a warning naming the plugin.
    """
