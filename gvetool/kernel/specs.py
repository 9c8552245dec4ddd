"""What a plugin registers: small frozen descriptions of a model, dataset or encoder.

A spec names its implementation either as a callable or as a ``"module:attribute"``
string. The string form is what the built-ins use: registering must not import torch or
torchvision (seconds each), so ``gvetool --help`` and ``gvetool plugins`` stay instant and
the heavy module is imported only when the thing is actually used.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gvetool.kernel.contracts import RewardedModel, require
from gvetool.kernel.targets import resolve_target
from gvetool.kernel.tasks import CAPTIONING, Task
from gvetool.utils.errors import GvetoolError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Spec:
    """Common part of every spec: a unique name, a one-line description, a target.

    ``target`` is the factory; what it is called with depends on the kind and is
    documented in :mod:`gvetool.kernel.hookspecs`.
    """

    kind: ClassVar[str] = "component"

    name: str
    description: str
    target: Callable[..., Any] | str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"{self.kind} name {self.name!r} must be lowercase letters, digits, '_', '.' "
                "or '-', starting with a letter or digit"
            )
        if not isinstance(self.target, str) and not callable(self.target):
            raise ValueError(f"{self.kind} {self.name!r}: target must be callable or 'module:attr'")
        if isinstance(self.target, str) and ":" not in self.target:
            raise ValueError(
                f"{self.kind} {self.name!r}: target {self.target!r} must be 'module:attribute'"
            )

    def load(self) -> Callable[..., Any]:
        """The factory, importing its module on first use when given as a string."""
        return resolve_target(self.target, f"{self.kind} '{self.name}'")


@dataclass(frozen=True)
class ModelShape:
    """What every model is built for: the data's sizes and the run's generic sizes.

    A factory reads these and its own typed options, never the whole run configuration.
    """

    vocab_size: int
    feature_dim: int
    num_classes: int
    embedding_size: int
    hidden_size: int
    dropout: float
    max_len: int  # the longest sentence it generates (validation, REINFORCE samples)


@dataclass(frozen=True)
class ModelSpec(Spec):
    """A model: a factory, the kind of model it builds, and the roles it plays.

    ``task`` (:mod:`gvetool.kernel.tasks`) says which contract the model meets, how it is
    validated and which number picks ``best.pt``. ``reward_model`` names the model whose
    frozen, separately trained instance gives this one its reward (GVE: the sentence
    classifier); training finds or is given a checkpoint of it. ``needs_classes`` lets the
    CLI refuse a dataset without classes before training starts instead of after an hour
    of work. ``class_conditioned`` says the model reads the class it explains, so it can
    explain an image as another class (counterfactuals, ``explain --class``). ``options``
    is a dataclass of the model's own hyper-parameters (:mod:`gvetool.kernel.options`):
    ``--KEY`` and ``--model-option KEY=VALUE`` on the command line, ``KEY =`` or a
    ``[model_options]`` table in TOML.

    The factory is called as ``target(shape, options)``: a :class:`ModelShape` and an
    instance of ``options`` (``None`` for a model without options).
    """

    kind: ClassVar[str] = "model"

    task: Task = CAPTIONING
    options: type | None = None
    needs_classes: bool = False
    reward_model: str | None = None
    class_conditioned: bool = False

    def build(self, config: Any, vocab_size: int, feature_dim: int, num_classes: int) -> Any:
        """The factory's model for a run of ``config`` (its generic sizes and this model's
        options), refused with one line if it does not meet its contract."""
        shape = ModelShape(
            vocab_size,
            feature_dim,
            num_classes,
            config.embedding_size,
            config.hidden_size,
            config.dropout,
            config.max_len,
        )
        try:
            model = self.load()(shape, self.typed_options(config.model_options))
        except MemoryError:
            raise self._too_large(shape) from None
        except RuntimeError as exc:  # torch's allocators say so in a RuntimeError
            if "alloc" not in str(exc).lower():
                raise
            raise self._too_large(shape) from None
        what = f"model '{self.name}'"
        require(model, self.task.contract, what)
        if self.reward_model is not None:
            require(model, RewardedModel, what)
        return model

    def typed_options(self, values: Mapping[str, Any]) -> Any:
        """The ``options`` dataclass holding ``values`` (the ones it declares; defaults for
        the rest), or ``None`` for a model without options."""
        if self.options is None:
            return None
        declared = {f.name for f in dataclasses.fields(self.options)}
        return self.options(**{k: v for k, v in values.items() if k in declared})

    def _too_large(self, shape: ModelShape) -> GvetoolError:
        return GvetoolError(
            f"not enough memory for model '{self.name}' (hidden_size {shape.hidden_size}, "
            f"embedding_size {shape.embedding_size}, {shape.vocab_size} words); "
            "choose smaller sizes"
        )


@dataclass(frozen=True)
class DatasetSpec(Spec):
    """A dataset: a corpus of images, captions and (optionally) classes.

    Optional steps, callables or ``"module:attribute"`` like the target:
    ``prepare(data_root) -> dict[str, int]`` turns raw release files into the layout the
    target reads (``gvetool data prepare``); ``download(data_root, mirror) -> None``
    fetches the public release (``gvetool data download``); ``generate(out, force=False,
    **options) -> dict[str, int]`` writes a generated copy of the dataset, so a pipeline
    such as ``gvetool demo`` can make its data without knowing whose generator it calls;
    ``command`` is a Typer command function added as ``gvetool data <name>``, the place
    for a dataset's own tool (the synthetic dataset's generator options, say).
    """

    kind: ClassVar[str] = "dataset"

    has_classes: bool = True
    prepare: Callable[..., Any] | str | None = None
    download: Callable[..., Any] | str | None = None
    generate: Callable[..., Any] | str | None = None
    command: Callable[..., Any] | str | None = None

    def load_step(self, step: str) -> Callable[..., Any]:
        """One optional step by name; a dataset without it is a clear error."""
        target = getattr(self, step)
        if target is None:
            raise GvetoolError(f"dataset '{self.name}' has no {step} step")
        return resolve_target(target, f"dataset '{self.name}' {step} step")


@dataclass(frozen=True)
class EncoderSpec(Spec):
    """An image encoder that turns images into fixed-size feature vectors.

    With ``variants=True`` the spec is a family: ``--encoder NAME:VARIANT`` calls the
    target with ``variant="VARIANT"`` (one plugin can offer a whole model zoo).
    """

    kind: ClassVar[str] = "encoder"

    variants: bool = False


# What a metric may need besides the generated sentences, each given to it by the core:
# the evaluated split's reference captions, its images' true classes, the training
# split's captions with their classes, the sentence classifier's logits of each sentence;
# and a Java runtime (pycocoevalcap's METEOR and SPICE), so the core can say it is missing.
METRIC_NEEDS = frozenset({"references", "classes", "training", "classifier", "java"})


@dataclass(frozen=True)
class MetricSpec(Spec):
    """A measure of generated sentences: what it writes, what it needs, how it ranks.

    The target is called with no arguments and returns an object with
    ``score(scoring: gvetool.plugin_api.ScoringInput) -> gvetool.plugin_api.MetricResult`` and
    ``close()``; it may raise ``gvetool.plugin_api.MetricUnavailable`` (no Java, no models) to be
    skipped with one warning while the other metrics still run.

    ``keys`` are the numbers it adds to ``metrics.json``, ``meanings`` a legend line for
    the ones a reader needs explained. ``needs`` is a subset of :data:`METRIC_NEEDS`; a
    metric whose needs a run cannot meet (no classes, no sentence classifier) is skipped
    there. ``best`` is the key that can pick ``best.pt`` when the metric is among
    ``--val-metrics`` (``None``: it cannot), ``higher_is_better`` its direction and
    ``best_priority`` which metric wins when several given can (the highest; CIDEr's is
    highest, as the original picks by CIDEr; ties: the first given). ``validation``:
    among the default ``--val-metrics``; ``evaluation``: computed by ``gvetool eval``
    unless ``--metrics`` says otherwise; ``table``: the keys that are columns of the
    summary tables (``reproduce``, ``demo``; ``None``: all of them, ``()``: none), with
    ``headers`` as their short titles.
    """

    kind: ClassVar[str] = "metric"

    keys: tuple[str, ...] = ()
    needs: frozenset[str] = frozenset({"references"})
    best: str | None = None
    higher_is_better: bool = True
    best_priority: int = 0
    validation: bool = False
    evaluation: bool = True
    table: tuple[str, ...] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    meanings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.keys:
            raise ValueError(f"metric {self.name!r}: keys must name the numbers it writes")
        unknown = sorted(set(self.needs) - METRIC_NEEDS)
        if unknown:
            raise ValueError(
                f"metric {self.name!r}: unknown need {unknown[0]!r}; "
                f"choose from {', '.join(sorted(METRIC_NEEDS))}"
            )
        for key in (self.best, *(self.table or ()), *self.headers, *self.meanings):
            if key is not None and key not in self.keys:
                raise ValueError(f"metric {self.name!r}: {key!r} is not one of its keys")

    @property
    def validates_each_epoch(self) -> bool:
        """Whether validation after each epoch can compute it: it has the split's
        references (and Java where installed), not its classes, the training captions or a
        classifier."""
        return self.needs <= {"references", "java"}


@dataclass(frozen=True)
class TrackerSpec(Spec):
    """An experiment tracker: told when a run starts or resumes, after every epoch, and
    when it ends (:mod:`gvetool.engine.tracking`).

    The target is called with no arguments (raise ``gvetool.plugin_api.TrackerUnavailable``
    when its library is missing) and returns an object with ``start(run: TrackedRun)``,
    ``log_epoch(record: EpochRecord)`` and ``finish(status, best)``. ``always``: on in
    every run (the run's own ``metrics.jsonl``); ``default``: on when ``--tracker``
    names none.
    """

    kind: ClassVar[str] = "tracker"

    always: bool = False
    default: bool = False


@dataclass(frozen=True)
class LauncherSpec(Spec):
    """Runs a command's training jobs (cross-validation folds, ``reproduce``'s models, seed
    repeats): one after another, as local processes, on a cluster (:mod:`gvetool.workflows.jobs`).

    The target is called with an instance of ``options`` (a frozen dataclass whose fields,
    with ``metadata={"help": ...}``, become ``--flags`` of ``cv`` and ``reproduce`` and
    keys of a ``[launcher]`` TOML table), or with nothing where ``options`` is ``None``;
    it returns an object with ``launch(jobs: Sequence[Job]) -> list[JobOutcome]``, which
    runs every job after the jobs its ``after`` names and reports each one's outcome.
    """

    kind: ClassVar[str] = "launcher"

    options: type | None = None
