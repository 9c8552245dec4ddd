"""Scoring generated sentences with the registered metric plugins.

Every measure ``gvetool eval``, validation, ``cv`` and ``reproduce`` report is a metric
plugin (:class:`gvetool.kernel.specs.MetricSpec`); this module is the one place that turns a list
of metric names into numbers. It gives each metric what its spec ``needs`` and nothing it
did not ask for: the references are tokenised once for all metrics (the PTB tokenizer in one
Java start for a final evaluation, the split's cached tokens during validation); the
training captions and the sentence classifier's logits are computed only if a metric
needs them. A metric that cannot run is skipped with one warning and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gvetool.config.schema import names_in
from gvetool.data.tokenize import java_available, sentence_tokens, tokenize_captions
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.specs import MetricSpec
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError, MetricUnavailable

# Needs that only some datasets can meet (a dataset without classes): a metric skipped
# for lack of them is not warned about unless it was asked for by name.
DATASET_NEEDS = frozenset({"classes", "training"})


@dataclass(frozen=True)
class TrainingCaptions:
    """The training split's tokenised captions, image by image, with each image's class
    (``None`` on a dataset without classes)."""

    documents: list[list[list[str]]]
    class_ids: np.ndarray | None

    def captions(self) -> list[list[str]]:
        """Every training caption's tokens."""
        return [tokens for document in self.documents for tokens in document]

    def caption_classes(self) -> np.ndarray:
        """The class of every training caption, as :meth:`captions` orders them."""
        if self.class_ids is None:
            raise MetricUnavailable("the training captions have no classes")
        return np.repeat(self.class_ids, [len(d) for d in self.documents])


@dataclass
class ScoringInput:
    """What a metric is given: the sentences (one per image) and what its spec needs.

    ``words`` are each sentence's tokens as the model wrote them; ``references`` (each
    image's reference captions) and ``candidates`` (the sentences) are tokenised the same
    way as each other, as pycocoevalcap expects. ``missing`` says why a need is absent.
    """

    sentences: list[str]
    words: list[list[str]]
    references: list[list[list[str]]] | None = None
    candidates: list[list[str]] | None = None
    class_ids: np.ndarray | None = None
    class_names: list[str] | None = None
    classifier_logits: np.ndarray | None = None
    load_training: Callable[[], TrainingCaptions] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    _training: TrainingCaptions | None = field(default=None, repr=False)

    @property
    def training(self) -> TrainingCaptions:
        """The training captions, read on first use (only metrics that need them ask)."""
        if self._training is None:
            if self.load_training is None:
                raise MetricUnavailable("the training captions are not available")
            self._training = self.load_training()
        return self._training

    def has(self, need: str) -> bool:
        if need == "java":  # a search of PATH: only when a metric needs it
            return java_available()
        present = {
            "references": self.references is not None,
            "classes": self.class_ids is not None and bool(self.class_names),
            "training": self.load_training is not None or self._training is not None,
            "classifier": self.classifier_logits is not None,
        }
        return present[need]

    def why_missing(self, need: str) -> str:
        defaults = {
            "references": "the split has no reference captions",
            "classes": "the dataset has no classes",
            "training": "the training captions are not available",
            "classifier": "no sentence classifier was given",
            "java": "it needs the program 'java', which was not found",
        }
        return self.missing.get(need, defaults[need])


@dataclass
class MetricResult:
    """What one metric computed.

    ``totals``: the numbers of ``metrics.json``; ``per_image``: a score per image, kept in
    each prediction's ``scores``; ``per_class``: a value per image that the report
    averages over each class's images; ``annotations``: a field per image added to each
    prediction as it is (``judged_as``, ``repeats``).
    """

    totals: dict[str, float]
    per_image: dict[str, Sequence[float | None]] = field(default_factory=dict)
    per_class: dict[str, Sequence[float]] = field(default_factory=dict)
    annotations: dict[str, Sequence[Any]] = field(default_factory=dict)


@dataclass
class Scores:
    """Every metric's results together, and the metrics that were skipped with why."""

    totals: dict[str, float] = field(default_factory=dict)
    per_image: dict[str, Sequence[float | None]] = field(default_factory=dict)
    per_class: dict[str, Sequence[float]] = field(default_factory=dict)
    annotations: dict[str, Sequence[Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, result: MetricResult) -> None:
        self.totals.update({key: float(value) for key, value in result.totals.items()})
        self.per_image.update(result.per_image)
        self.per_class.update(result.per_class)
        self.annotations.update(result.annotations)

    def class_rows(self, class_ids: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
        """A row per class with images: each per-class value averaged over its images."""
        rows = []
        for c, name in enumerate(names):
            members = np.flatnonzero(class_ids == c)
            if len(members):
                row: dict[str, Any] = {"class": name, "images": len(members)}
                for key, values in self.per_class.items():
                    row[key] = float(np.asarray(values, dtype=np.float64)[members].mean())
                rows.append(row)
        return rows


def metric_specs() -> list[MetricSpec]:
    """Every registered metric, built-ins first, in the order registered."""
    return get_plugins().metrics.in_order()


def metric_spec(name: str) -> MetricSpec:
    """The metric called ``name``; an unknown name lists the registered ones."""
    return get_plugins().metrics.get(name)


def default_evaluation_metrics() -> tuple[str, ...]:
    """What ``gvetool eval`` computes unless ``--metrics`` names others."""
    return tuple(spec.name for spec in metric_specs() if spec.evaluation)


def parse_names(text: str | Sequence[str]) -> tuple[str, ...]:
    """Metric names from ``"a,b"`` or a sequence, each checked to be registered."""
    names = names_in(text) if isinstance(text, str) else [n for n in text if n]
    for name in names:
        metric_spec(name)
    return tuple(dict.fromkeys(names))


def table_keys(names: Sequence[str]) -> list[str]:
    """The summary-table columns of the metrics ``names``, as each spec's ``table`` says."""
    keys: list[str] = []
    for name in names:
        spec = metric_spec(name)
        keys += spec.keys if spec.table is None else spec.table
    return keys


def headers(keys: Sequence[str]) -> list[str]:
    """The short column titles of ``keys`` (the key itself where a metric gives none)."""
    titles = {k: v for spec in metric_specs() for k, v in spec.headers.items()}
    return [titles.get(key, key) for key in keys]


def meanings(keys: Sequence[str]) -> list[str]:
    """``"key: meaning"`` for each of ``keys`` whose metric explains it."""
    explained = {k: v for spec in metric_specs() for k, v in spec.meanings.items()}
    return [f"{key}: {explained[key]}" for key in keys if key in explained]


class Scorer:
    """The metrics ``names``, built once and reused (METEOR keeps one Java process).

    ``asked``: the names the user gave (a metric asked for by name is warned about when a
    dataset cannot give what it needs; a default one is left out quietly).
    """

    def __init__(self, names: Sequence[str], asked: bool = True) -> None:
        self.specs = [metric_spec(name) for name in dict.fromkeys(names)]
        self.asked = asked
        self.skipped: dict[str, str] = {}
        self._metrics: dict[str, Any] = {}
        for spec in self.specs:
            try:
                self._metrics[spec.name] = spec.load()()
            except MetricUnavailable as exc:
                self._skip(spec.name, str(exc))
            except Exception as exc:
                raise metric_failed(spec.name, exc) from exc

    @property
    def needs(self) -> set[str]:
        """Everything the metrics that can run need."""
        return {need for spec in self.specs if spec.name in self._metrics for need in spec.needs}

    def _skip(self, name: str, reason: str, quiet: bool = False) -> None:
        message = f"{name} skipped: {reason}"
        if self.skipped.get(name) != message:
            self.skipped[name] = message
            if not quiet:
                console.warn(message)

    def score(self, scoring: ScoringInput) -> Scores:
        scores = Scores()
        for spec in self.specs:
            metric = self._metrics.get(spec.name)
            if metric is None:
                continue
            unmet = [need for need in sorted(spec.needs) if not scoring.has(need)]
            if unmet:
                quiet = not self.asked and set(unmet) <= DATASET_NEEDS
                self._skip(spec.name, scoring.why_missing(unmet[0]), quiet)
                continue
            try:
                result = metric.score(scoring)
            except MetricUnavailable as exc:
                self._skip(spec.name, str(exc))
                continue
            except Exception as exc:
                raise metric_failed(spec.name, exc) from exc
            scores.add(_declared(spec, result))
        scores.skipped = dict(self.skipped)
        return scores

    def close(self) -> None:
        """Release what the metrics hold (METEOR's Java process); ``close`` is optional."""
        metrics, self._metrics = self._metrics, {}
        for name, metric in metrics.items():
            close = getattr(metric, "close", None)
            try:
                if close is not None:
                    close()
            except Exception as exc:  # its results are already in; say so, go on
                console.warn(f"{metric_failed(name, exc)} while closing")


def metric_failed(name: str, exc: BaseException) -> GvetoolError:
    """One line blaming the metric's own package, not gvetool, for what it raised."""
    distribution = get_plugins().metrics.provider(name).distribution
    return GvetoolError(
        f"metric '{name}' from package '{distribution}' failed: {type(exc).__name__}: {exc}"
    )


def _declared(spec: MetricSpec, result: MetricResult) -> MetricResult:
    """``result``, refused where its totals (the numbers of ``metrics.json``) name a key its
    spec does not declare: it would be written where no table, legend or ``best.pt``
    choice knows it. Per-image and per-class values are the metric's own to name."""
    unknown = sorted(set(result.totals) - set(spec.keys))
    if unknown:
        distribution = get_plugins().metrics.provider(spec.name).distribution
        raise GvetoolError(
            f"metric '{spec.name}' from package '{distribution}' returned '{unknown[0]}', "
            f"which its MetricSpec.keys do not declare ({', '.join(spec.keys)}); "
            "add it there or leave it out"
        )
    return result


def scoring_input(
    sentences: Sequence[str],
    references: Sequence[Sequence[str | list[str]]] | None,
    ptb_tokenizer: bool,
    needs: set[str],
    **given: Any,
) -> ScoringInput:
    """The input of every metric for ``sentences``; references (raw sentences or tokens
    already, as a split caches them) are tokenised only if a metric needs them: with
    ``ptb_tokenizer`` the sentences too, in the same single Java run, as pycocoevalcap."""
    words = [sentence_tokens(s) for s in sentences]
    scoring = ScoringInput(list(sentences), words, **given)
    if references is None or "references" not in needs:
        return scoring
    raw = [r for refs in references for r in refs if isinstance(r, str)]
    if ptb_tokenizer:
        raw += list(sentences)
    tokens = iter(tokenize_captions(raw, cache=False))
    scoring.references = [
        [r if isinstance(r, list) else next(tokens) for r in refs] for refs in references
    ]
    scoring.candidates = [next(tokens) for _ in sentences] if ptb_tokenizer else words
    return scoring
