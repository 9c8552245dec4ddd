"""A run's configuration resolved: the generic keys (:mod:`gvetool.config.schema`) and the
model's own options, checked against what its plugin's spec declares.

It sits above the plugin manager because a model's options are known only to its spec;
:mod:`gvetool.config.schema` below it never looks a plugin up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from gvetool.config.relocation import relocated
from gvetool.config.schema import KEYS, MOVED_TO_MODEL_OPTIONS, RESUMABLE, TrainConfig, flag
from gvetool.config.toml_files import merged
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.options import option_fields, resolve_model_options
from gvetool.kernel.specs import MetricSpec, ModelSpec
from gvetool.kernel.tasks import Task
from gvetool.utils.errors import ConfigError


def resolve(
    config_file: Path | None,
    overrides: dict[str, Any],
    source: str = "command line",
    saved: bool = False,
) -> TrainConfig:
    """Defaults, then the config file, then the values given; the model's options filled
    in from its spec's defaults and checked. A model's option may be given as a plain
    key (``reinforce_weight``); without a model (``reproduce`` trains several), each
    option must be one some model declares, and :func:`for_model` gives each its own.
    ``saved``: the values are a saved run's (resume, transfer), which may hold an earlier
    release's GVE keys whatever the model; given anew, an option the model lacks is refused."""
    config = merged(config_file, overrides, source, model_option_names())
    if config.model:
        config = for_model(config, config.model, legacy=saved)
    else:
        unknown = sorted(set(config.model_options) - model_option_names())
        if unknown:
            raise ConfigError(f"no installed model has an option '{unknown[0]}'")
    config.val_metrics = ",".join(spec.name for spec in validation_metrics(config))
    for name in config.tracker_names():  # an unknown tracker before any work
        get_plugins().trackers.get(name)
    return config


def model_option_names() -> frozenset[str]:
    """Every option some registered model declares."""
    models = get_plugins().models
    return frozenset(f.name for name in models.names() for f in option_fields(models.get(name)))


def for_model(
    config: TrainConfig, model: str, shared: bool = False, legacy: bool = True
) -> TrainConfig:
    """``config`` for training ``model``: its own options checked and completed with its
    defaults. With ``legacy`` (a saved config), an earlier release's GVE keys (in every
    run's saved config) are left out of a model that does not declare them; so, with
    ``shared`` (one config for several models: ``reproduce``, a cv fold's sentence
    classifier), are other models' options. Any other option the model does not declare
    is refused."""
    spec = get_plugins().models.get(model)
    declared = {f.name for f in option_fields(spec)}
    dropped = (set(MOVED_TO_MODEL_OPTIONS) if legacy else set()) | (
        model_option_names() if shared else set()
    )
    given = {k: v for k, v in config.model_options.items() if k in declared or k not in dropped}
    options = resolve_model_options(spec, given)
    return dataclasses.replace(config, model=model, model_options=options)


def resumable_options(spec: ModelSpec) -> set[str]:
    """The model's options that ``--resume`` may change (how it runs, not what it trains)."""
    return {f.name for f in option_fields(spec) if f.metadata.get("resumable")}


def default_validation_metrics() -> list[str]:
    """The default ``--val-metrics``: every metric registered for validation."""
    return [spec.name for spec in get_plugins().metrics.in_order() if spec.validation]


def validation_metrics(config: TrainConfig) -> list[MetricSpec]:
    """The run's ``--val-metrics`` (the registered defaults where none were given),
    refused with one line if one cannot be computed after an epoch or none can pick
    ``best.pt``."""
    metrics = get_plugins().metrics
    if config.val_metrics.strip() and not config.metric_names():
        raise ConfigError(
            f"val_metrics {config.val_metrics!r} names no metric; give names such as "
            "bleu,cider (or leave it out for the defaults)"
        )
    names = config.metric_names() or default_validation_metrics()
    specs = [metrics.get(name) for name in dict.fromkeys(names)]
    for spec in specs:
        if not spec.validates_each_epoch:
            needs = ", ".join(sorted(spec.needs - {"references", "java"}))
            raise ConfigError(
                f"val_metrics: '{spec.name}' needs {needs}, which validation after each "
                "epoch does not have; use it in gvetool eval --metrics"
            )
    if not any(spec.best for spec in specs):
        choosers = [s.name for s in metrics.in_order() if s.best and s.validates_each_epoch]
        raise ConfigError(
            f"val_metrics: none of {', '.join(names)} can pick best.pt; add one of "
            + ", ".join(choosers)
        )
    return specs


def resumed(saved: dict[str, Any], given: dict[str, Any], run_dir: Path) -> TrainConfig:
    """The config of the run in ``run_dir`` resumed: the saved one (its paths found again
    if the run was moved), where only the ``resumable`` keys may change (how the run
    continues, never what it trains)."""
    config = relocated(TrainConfig.from_saved(saved), run_dir)
    options = resumable_options(get_plugins().models.get(config.model))
    frozen = sorted(set(given) - set(RESUMABLE) - options)
    if frozen:
        allowed = ", ".join(flag(key) for key in (*RESUMABLE, *sorted(options)))
        raise ConfigError(f"{flag(frozen[0])} cannot change when resuming; only {allowed} can")
    return resolve(None, {**asdict(config), **given}, saved=True)


def transferred(saved: dict[str, Any], given: dict[str, Any]) -> TrainConfig:
    """A transfer's config: the source's, except where it trained and wrote (``location``
    keys, never inherited), overridden by what was given."""
    inherited = {
        k: v
        for k, v in asdict(TrainConfig.from_saved(saved)).items()
        if not (k in KEYS and KEYS[k].metadata.get("location"))
    }
    return resolve(None, {**inherited, **given}, saved=True)


class Best(NamedTuple):
    """The validation number that picks ``best.pt`` and which way is better."""

    key: str
    higher_is_better: bool = True

    def better(self, value: float, than: float | None) -> bool:
        """Whether ``value`` improves on ``than`` (``None``: nothing yet; NaN never does)."""
        if math.isnan(value):
            return False
        if than is None:
            return True
        return value > than if self.higher_is_better else value < than

    def scores_in(self, history: Sequence[dict[str, Any]]) -> list[float]:
        """This key's validation numbers in a run's history (``metrics.jsonl`` entries;
        a damaged or foreign entry is passed over)."""
        return [
            h["val"][self.key]
            for h in history
            if isinstance(h.get("val"), dict) and isinstance(h["val"].get(self.key), int | float)
        ]

    def best_of(self, values: Sequence[float]) -> float | None:
        """The best of ``values`` (``None`` for none)."""
        best = None
        for value in values:
            if self.better(value, best):
                best = value
        return best


def best_for_run(config: TrainConfig, task: Task) -> Best:
    """The number that picks ``best.pt``: the task's own (a classifier's accuracy), else,
    among the run's validation metrics that can, the one of highest priority (CIDEr, as
    the original), the first given on a tie."""
    if task.best is not None:
        return Best(task.best)
    choosers = [spec for spec in validation_metrics(config) if spec.best]
    spec = max(choosers, key=lambda s: s.best_priority)  # max keeps the first of equals
    return Best(str(spec.best), spec.higher_is_better)
