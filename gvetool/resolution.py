"""A run's configuration resolved: the generic keys (:mod:`gvetool.config`) and the
model's own options, checked against what its plugin's spec declares.

It sits above the plugin manager because a model's options are known only to its spec;
:mod:`gvetool.config` below it never looks a plugin up.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from gvetool.config import (
    KEYS,
    LEGACY_VALUES,
    RESUMABLE,
    TrainConfig,
    flag,
    merged,
    relocated,
)
from gvetool.errors import ConfigError
from gvetool.model_options import resolve_model_options
from gvetool.plugins import get_plugins
from gvetool.specs import MetricSpec


def resolve(
    config_file: Path | None, overrides: dict[str, Any], source: str = "command line"
) -> TrainConfig:
    """Defaults, then the config file, then the values given; the model's options filled
    in from its spec's defaults and checked."""
    config = merged(config_file, overrides, source)
    if config.model:
        spec = get_plugins().models.get(config.model)
        config.model_options = resolve_model_options(spec, config.model_options)
    config.val_metrics = ",".join(spec.name for spec in validation_metrics(config))
    for name in config.tracker.split(","):  # an unknown tracker before any work
        if name.strip():
            get_plugins().trackers.get(name.strip())
    return config


def default_validation_metrics() -> list[str]:
    """The default ``--val-metrics``: every metric registered for validation."""
    return [spec.name for spec in get_plugins().metrics.in_order() if spec.validation]


def validation_metrics(config: TrainConfig) -> list[MetricSpec]:
    """The run's ``--val-metrics`` (the registered defaults where none were given),
    refused with one line if one cannot be computed after an epoch or none can pick
    ``best.pt``."""
    metrics = get_plugins().metrics
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
    frozen = sorted(set(given) - set(RESUMABLE))
    if frozen:
        allowed = ", ".join(flag(key) for key in RESUMABLE)
        raise ConfigError(f"{flag(frozen[0])} cannot change when resuming; only {allowed} can")
    saved = {**LEGACY_VALUES, **saved}
    return resolve(None, {**asdict(relocated(TrainConfig(**saved), run_dir)), **given})


def transferred(saved: dict[str, Any], given: dict[str, Any]) -> TrainConfig:
    """A transfer's config: the source's, except where it trained and wrote (``location``
    keys, never inherited), overridden by what was given."""
    inherited = {
        k: v for k, v in saved.items() if not (k in KEYS and KEYS[k].metadata.get("location"))
    }
    return resolve(None, {**inherited, **given})
