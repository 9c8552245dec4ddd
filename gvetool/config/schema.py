"""The keys of a run's configuration: one dataclass, its checks and its saved form.

It is filled from defaults < TOML file < command line (:mod:`gvetool.config.toml_files`);
the resolved configuration is saved in the run directory as ``config.toml``, so a run can
be repeated or resumed exactly. Unknown keys are refused (with the closest known key), and
values out of range are refused before any work starts.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from gvetool.utils.errors import ConfigError
from gvetool.utils.files import write_text

MODEL_OPTIONS = "model_options"
# Generic keys of earlier releases that are now a model's own options (GVE's): a saved
# config (config.toml, a checkpoint) that has them is read with them moved into
# model_options, where the model that declares them finds them.
MOVED_TO_MODEL_OPTIONS = ("reinforce_weight", "baseline", "reward_dropout", "reinforce_tokens")
# Model options added after runs were saved, with the value those runs were trained with,
# so that resuming an older run continues what it computed.
LEGACY_MODEL_OPTIONS = {"reward_dropout": "never"}
PRECISION_NAMES = ("fp32", "bf16", "fp64", "tf32")  # gvetool.engine.precision maps them to dtypes


def opt(
    default: Any,
    help: str,
    *,
    resumable: bool = False,
    location: bool = False,
    path: bool = False,
) -> Any:
    """A config key with its help; the command-line options are built from these.

    ``resumable``: ``--resume`` may change it (how a run continues, not what it trains).
    ``location``: where a run trained or writes, never inherited by ``transfer``.
    ``path``: a path (given as one on the command line); a resolved config holds it
    absolute, so that a run's files name what it read wherever they are used from.
    """
    metadata = {"help": help, "resumable": resumable, "location": location, "path": path}
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults follow the original work."""

    model: str = opt("", "Model to train.")
    dataset: str = opt("", "Dataset name, e.g. cub or synth.", location=True)
    data_root: str | None = opt(
        None, "Dataset folder (default: its home).", location=True, path=True
    )
    class_split: str | None = opt(
        None, "Train on one part of a class split: FILE:1 or FILE:2.", location=True, path=True
    )
    folds: int = opt(
        0, "Cross-validation: train on fold `fold` of `folds` (0: no folds).", location=True
    )
    fold: int = opt(0, "The fold this run trains on.", location=True)
    fold_seed: int = opt(0, "Seed of the fold assignment.", location=True)
    stratified: bool = opt(False, "Folds keep each class's share.", location=True)
    init_from: str | None = opt(
        None, "Start from these weights (cv --same-model).", location=True, path=True
    )
    transfer_from: str | None = opt(
        None, "Captioner checkpoint trained on other classes/data.", location=True, path=True
    )
    freeze: str = opt(
        "none",
        "Transfer: keep this group of the model frozen (its own names; the built-ins: "
        "none | embeddings | lstm | all-but-output).",
    )
    vocab_mode: str = opt("source", "Transfer: source (keep its words) | extend (add new ones).")
    encoder: str = opt("precomputed", "Image features: precomputed or a CNN encoder.")
    encoder_weights: str | None = opt(
        None, "CNN encoder weights: imagenet (default), none or a state-dict path."
    )
    encoder_remove_last: int | None = opt(None, "CNN encoder: drop this many last layers.")
    cache_dir: str | None = opt(
        None, "Feature-store folder (default: under GVETOOL_HOME).", location=True, path=True
    )
    out: str = opt("runs", "Where run directories go.", location=True, path=True)
    epochs: int = opt(50, "Passes over the training captions.", resumable=True)
    batch_size: int = opt(128, "Captions per step.")
    lr: float = opt(1e-3, "Adam learning rate.")
    weight_decay: float = opt(0.0, "Adam weight decay.")
    grad_clip: float = opt(0.0, "Clip the gradient norm to this (0: off).")
    embedding_size: int = opt(1000, "Word/image embedding size.")
    hidden_size: int = opt(1000, "LSTM hidden size (a plugin model's width).")
    dropout: float = opt(0.5, "Dropout probability.")
    min_count: int = opt(1, "Keep words seen at least this often in training captions.")
    max_caption_len: int = opt(0, "Truncate training captions to this many tokens (0: whole).")
    max_len: int = opt(50, "Longest generated sentence (validation, REINFORCE samples).")
    sc_ckpt: str | None = opt(
        None,
        "The reward model's checkpoint (gve: the sentence classifier; default: the "
        "newest matching run of it).",
        location=True,
        path=True,
    )
    tracker: str = opt(
        "",
        "Experiment trackers besides metrics.jsonl, comma-separated (empty: the defaults, "
        "TensorBoard where installed; gvetool plugins lists them).",
        resumable=True,
    )
    val_metrics: str = opt(
        "",
        "Validation metrics, comma-separated; one of them picks best.pt (empty: every metric "
        "registered for validation; gvetool plugins lists them).",
    )
    checkpoint_every: int = opt(
        0, "Also save last.pt every N steps (0: per epoch only).", resumable=True
    )
    seed: int = opt(0, "Random seed: same seed, same weights.")
    device: str = opt("cpu", "cpu, cuda or cuda:N.", resumable=True)
    precision: str = opt(
        "fp32",
        "Training arithmetic: fp32, bf16 (autocast), fp64 or tf32 "
        "(CUDA's TensorFloat-32 products).",
        resumable=True,
    )
    cuda_graph: bool = opt(
        False,
        "CUDA: capture each training step whole (forward, backward, Adam) as a CUDA graph "
        "and replay it: fixed shapes, no host synchronisation; for models with a "
        "fixed_shape_loss (lrcn, gve and their ablations).",
        resumable=True,
    )
    num_workers: int = opt(0, "Data-loading processes.", resumable=True)
    threads: int = opt(0, "Torch intra-op threads (0: torch's default).", resumable=True)
    dist_timeout_min: float = opt(
        180.0,
        "Under torchrun: minutes a process waits for the others before giving up (rank 0 "
        "builds the feature store and validates meanwhile; NCCL's own default is 10).",
        resumable=True,
    )
    # The model's own options (its spec's ``options`` dataclass), all of them once resolved;
    # a ``[model_options]`` table in TOML, ``--model-option KEY=VALUE`` on the command line.
    model_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "The model's own options."}
    )

    def validate(self) -> None:
        """Refuse impossible values with one line naming the key and the allowed range."""
        for key, declared in KEYS.items():
            value = getattr(self, key)
            if "float" in declared.type and value is not None and not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value}")
        positive = ("epochs", "batch_size", "embedding_size", "hidden_size", "min_count", "max_len")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        non_negative = (
            "weight_decay",
            "grad_clip",
            "max_caption_len",
            "checkpoint_every",
            "num_workers",
            "threads",
        )
        for key in non_negative:
            if getattr(self, key) is not None and getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be between 0 and {2**32 - 1}, got {self.seed}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not self.dist_timeout_min > 0:
            raise ConfigError(f"dist_timeout_min must be > 0, got {self.dist_timeout_min}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.folds == 1 or self.folds < 0:
            raise ConfigError(f"folds must be 0 (off) or >= 2, got {self.folds}")
        if not self.freeze:
            raise ConfigError("freeze must name a group of the model's, e.g. none")
        if self.vocab_mode not in ("source", "extend"):
            raise ConfigError(f"vocab must be source or extend, got {self.vocab_mode!r}")
        if self.max_caption_len == 1:
            raise ConfigError("max_caption_len must be 0 (off) or >= 2")
        if self.precision not in PRECISION_NAMES:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISION_NAMES)}, got {self.precision!r}"
            )
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        if self.cuda_graph and self.device == "cpu":
            raise ConfigError(
                "--cuda-graph captures training steps as CUDA graphs, which need a GPU: "
                "give --device cuda, or train without --cuda-graph"
            )
        if self.precision == "tf32" and self.device == "cpu":
            raise ConfigError(
                "--precision tf32 runs float32 products on CUDA's TensorFloat-32 tensor cores, "
                "which a CPU has not: use fp32 (or bf16) with --device cpu"
            )

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> TrainConfig:
        """The config a run saved (``config.toml``, a checkpoint's), from this release or
        an earlier one: keys that became model options are moved into ``model_options``,
        and an option added since gets the value the run was trained with."""
        values = dict(saved)
        moved = {key: values.pop(key) for key in MOVED_TO_MODEL_OPTIONS if key in values}
        options = dict(values.get(MODEL_OPTIONS) or {})
        if moved:  # an earlier release's config: every run had GVE's keys, used or not
            options = {**LEGACY_MODEL_OPTIONS, **moved, **options}
        values[MODEL_OPTIONS] = options
        return cls(**values)

    def encoder_options(self) -> dict[str, Any]:
        """The options given for the encoder, to pass to its factory."""
        options = {"weights": self.encoder_weights, "remove_last": self.encoder_remove_last}
        return {key: value for key, value in options.items() if value is not None}

    def metric_names(self) -> list[str]:
        return names_in(self.val_metrics)

    def tracker_names(self) -> list[str]:
        return names_in(self.tracker)

    def to_toml(self) -> str:
        """The config as TOML (``None`` values are omitted: TOML has no null)."""
        lines = ["# gvetool run configuration (resolved: defaults < config file < command line)"]
        values = asdict(self)
        options = values.pop(MODEL_OPTIONS)
        lines += _toml_lines(values)
        if options:
            lines += ["", f"[{MODEL_OPTIONS}]", *_toml_lines(options)]
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        write_text(path, self.to_toml())


def names_in(text: str) -> list[str]:
    """The names of a comma-separated list (``"bleu, cider"``), blanks left out."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _toml_lines(values: dict[str, Any]) -> list[str]:
    """``key = value`` lines; ``None`` values left out (TOML has no null)."""
    return [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]


KEYS = {f.name: f for f in fields(TrainConfig)}
RESUMABLE = tuple(key for key, declared in KEYS.items() if declared.metadata.get("resumable"))
PATHS = tuple(key for key, declared in KEYS.items() if declared.metadata.get("path"))


def flag(key: str) -> str:
    """The command-line flag of a config key."""
    return "--model-option" if key == MODEL_OPTIONS else "--" + key.replace("_", "-")


def _coerce(key: str, value: Any, source: str) -> Any:
    expected = KEYS[key].type
    if value is None:
        return None
    if key == MODEL_OPTIONS:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a table of model options")
        return {str(k).replace("-", "_"): v for k, v in value.items()}
    if "float" in expected and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if KEYS[key].metadata.get("path") and isinstance(value, os.PathLike):
        value = os.fspath(value)  # a Path from Python or the command line: kept as text
    kind = {"int": int, "float": float, "str": str, "bool": bool}.get(expected.split(" |")[0])
    wrong_bool = isinstance(value, bool) and kind is not bool
    if kind is not None and (not isinstance(value, kind) or wrong_bool):
        raise ConfigError(f"{source}: {key} must be {expected.split(' |')[0]}, got {value!r}")
    return value


def check_keys(
    data: dict[str, Any], source: str, model_keys: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Normalise ``a-b`` to ``a_b`` and refuse unknown keys, suggesting the closest.

    ``model_keys`` are the options some model declares (the plugins' business, given by
    :mod:`gvetool.config.resolution`): written as plain keys (``reinforce_weight = 0.5``,
    ``--reinforce-weight 0.5``) they go into ``model_options``, over that table's values.
    """
    checked: dict[str, Any] = {}
    routed: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if key in model_keys and key not in KEYS:
            routed[key] = value
            continue
        if key not in KEYS:
            close = difflib.get_close_matches(key, [*KEYS, *model_keys], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{source}: unknown config key '{raw_key}'{hint}")
        checked[key] = _coerce(key, value, source)
    if routed:
        checked[MODEL_OPTIONS] = {**checked.get(MODEL_OPTIONS, {}), **routed}
    return checked
