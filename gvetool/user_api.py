"""gvetool from Python: every command's work as a function with typed results.

    import gvetool
    sc = gvetool.train("sc", dataset="synth", data_root="birds", epochs=5)
    run = gvetool.train("gve", dataset="synth", data_root="birds", epochs=5, hidden_size=256)
    result = gvetool.evaluate(run.best, split="test")
    gvetool.load(run.best).explain(["..."])

The keyword options are the configuration keys the CLI's options are built from
(:class:`gvetool.config.TrainConfig`, ``--hidden-size`` is ``hidden_size=``), checked the
same way. A user error raises :class:`gvetool.errors.GvetoolError` (or a subclass) with the
line the CLI prints, never ``SystemExit``. Nothing is printed unless ``progress=True``;
warnings are Python warnings (:class:`gvetool.console.GvetoolWarning`). Ctrl-C stops a
training run after its step, saves ``last.pt`` and raises
:class:`gvetool.engine.interrupt.Interrupted`; ``train(resume=run.directory)`` continues it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gvetool.console import quiet_unless_asked
from gvetool.errors import CheckpointError, GvetoolError

if TYPE_CHECKING:
    from gvetool.config import TrainConfig

SOURCE = "options"  # how errors name where a bad key came from (a call or the CLI)


@dataclass(frozen=True)
class Run:
    """A training run's folder and what it recorded."""

    directory: Path
    model: str
    dataset: str
    epochs_done: int
    epochs_planned: int
    best_metric: str | None  # the validation number that chose best.pt
    best_score: float | None
    state: str  # finished | interrupted | running
    history: list[dict[str, Any]] = field(repr=False)  # one entry per epoch (metrics.jsonl)

    @property
    def best(self) -> Path | None:
        """``best.pt`` (``None`` if no validation score was ever computed)."""
        path = self.directory / "best.pt"
        return path if path.is_file() else None

    @property
    def last(self) -> Path:
        return self.directory / "last.pt"

    @classmethod
    def open(cls, directory: str | Path) -> Run:
        """The run in ``directory``, read from its small files (no checkpoint is loaded)."""
        from gvetool.engine.runlist import read_history, summarise

        directory = Path(directory)
        summary = summarise(directory)
        if summary is None:
            raise GvetoolError(f"{directory} is not a gvetool run (no readable run.json)")
        return cls(directory, summary.model, summary.dataset, summary.epochs_done,
                   summary.epochs_planned, summary.best_metric, summary.best, summary.state,
                   read_history(directory))  # fmt: skip


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: its run and its validation numbers."""

    fold: int
    run: Path
    val: dict[str, float]


@dataclass(frozen=True)
class CrossValidation:
    """``cv.json`` as an object: every fold, and mean and std over them; over several
    seeds, the seeds' means summarised again, each seed's own in ``per_seed`` (and no
    ``folds`` of its own)."""

    directory: Path
    model: str
    dataset: str
    folds: list[Fold]
    mean: dict[str, float]
    std: dict[str, float]
    per_seed: list[CrossValidation] = field(default_factory=list)


@dataclass(frozen=True)
class Reproduction:
    """The paper-style table of ``gvetool reproduce``: one row per model; over several
    seeds, rows of means and standard deviations (``mean``, ``std``, ``seeds``)."""

    directory: Path
    dataset: str
    sentence_classifier: Path | None  # None over several seeds: one per seed
    rows: list[dict[str, Any]]  # model, plugin and the table's measures


def _resolve(model: str | None, config: str | Path | None, options: dict[str, Any]) -> TrainConfig:
    from gvetool.resolution import resolve

    resolved = resolve(Path(config) if config else None, {**options, "model": model}, SOURCE)
    if not resolved.dataset:
        raise GvetoolError("--dataset is required (or set dataset in the config file)")
    return resolved


@quiet_unless_asked
def train(
    model: str | None = None,
    *,
    config: str | Path | None = None,
    resume: str | Path | None = None,
    **options: Any,
) -> Run:
    """Train ``model`` (``lrcn``, ``gve``, ``sc`` or a plugin's) and return its run.

    ``options``: any configuration key (``dataset``, ``data_root``, ``epochs``,
    ``hidden_size``, ..., ``model_options={...}``); ``config``: a TOML file of them.
    ``resume``: a run directory to continue (then only resumable keys may be given).
    """
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.engine.trainer import train as run_training
    from gvetool.resolution import resumed

    if resume is not None:
        resume = Path(resume)
        if not (resume / "last.pt").is_file():
            raise CheckpointError(f"no checkpoint to resume in {resume} (last.pt is missing)")
        if config is not None:
            raise GvetoolError("--config cannot change when resuming; the run keeps its own")
        saved = load_checkpoint(resume / "last.pt", expect_model=model)
        resolved = resumed(saved["config"], options, resume)
    else:
        if model is None:
            raise GvetoolError("name a model to train (lrcn, gve, sc) or pass --resume RUN_DIR")
        resolved = _resolve(model, config, options)
    return Run.open(run_training(resolved, resume))


@quiet_unless_asked
def evaluate(
    checkpoint: str | Path,
    *,
    split: str = "test",
    beam: int = 1,
    max_len: int = 50,
    length_penalty: float = 0.0,
    data_root: str | Path | None = None,
    sc_ckpt: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    out: str | Path | None = None,
    force: bool = False,
    write: bool = True,
    metrics: str | Sequence[str] | None = None,
) -> Any:
    """Score a captioning checkpoint (``best.pt``, ``last.pt`` or a run directory) on
    ``split`` with the metric plugins ``metrics`` (names, or ``"a,b"``; default: every
    metric registered for evaluation, :func:`list_metrics`); returns a
    :class:`gvetool.evaluation.evaluate.Evaluation` (metrics, per-image predictions,
    per-class measures). With ``write`` (the default) its
    ``metrics.json``, ``predictions/<split>.json`` and ``report.html`` are written to
    ``out`` (default: the run directory), as ``gvetool eval`` writes them; results of
    other decoding settings are kept unless ``force``."""
    from gvetool.engine.rundir import run_dir_of
    from gvetool.evaluation.evaluate import decoding
    from gvetool.evaluation.evaluate import evaluate as run_evaluation
    from gvetool.evaluation.report import refuse_other_settings, write_outputs
    from gvetool.evaluation.scoring import parse_names

    names = None if metrics is None else parse_names(metrics)
    checkpoint = Path(checkpoint)
    target = Path(out) if out else run_dir_of(checkpoint)
    sc_path = Path(sc_ckpt).absolute() if sc_ckpt else None
    if write:
        refuse_other_settings(target, split, decoding(beam, max_len, length_penalty), sc_path,
                              force)  # fmt: skip
    evaluation = run_evaluation(
        checkpoint, split, beam, max_len, Path(data_root) if data_root else None, sc_path,
        batch_size, length_penalty, device, metrics=names,
    )  # fmt: skip
    if write:
        title = f"{evaluation.model} on {evaluation.dataset} ({split}, beam {beam})"
        evaluation.report = write_outputs(evaluation, target, title)
    return evaluation


@quiet_unless_asked
def transfer(
    source: str | Path,
    *,
    dataset: str,
    freeze: str = "none",
    vocab: str = "source",
    **options: Any,
) -> Run:
    """A captioner trained from ``source``'s weights (checkpoint or run directory) on
    ``dataset``, as ``gvetool transfer``: class inputs re-initialised for the target's
    classes, the vocabulary kept (``vocab="source"``) or extended (``"extend"``)."""
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.engine.trainer import train as run_training
    from gvetool.resolution import transferred

    source = Path(source)
    path = source / "best.pt" if source.is_dir() else source
    saved = load_checkpoint(path)["config"]
    target = {"dataset": dataset, "freeze": freeze, "vocab_mode": vocab, "transfer_from": str(path)}
    return Run.open(run_training(transferred(saved, {**options, **target})))


@quiet_unless_asked
def cross_validate(
    model: str,
    *,
    folds: int = 3,
    stratified: bool = False,
    same_model: bool = False,
    sc_ckpt: str | Path | None = None,
    config: str | Path | None = None,
    seeds: Sequence[int] | None = None,
    launcher: str | None = None,
    launcher_options: dict[str, Any] | None = None,
    **options: Any,
) -> CrossValidation:
    """k-fold cross-validation over images, as ``gvetool cv``; a rerun resumes.

    ``seeds``: the whole cross-validation once per seed (its own folds each), summarised
    over seeds; ``launcher``/``launcher_options``: which launcher plugin runs the folds
    and how (a ``[launcher]`` table of ``config`` gives defaults). A fold that does not
    finish raises :class:`GvetoolError` naming it, after the others are summarised.
    """
    from gvetool.cv import cross_validate as run_cv
    from gvetool.cv import cv_directory

    resolved = _resolve(model, config, options)
    chosen = _launcher(config, launcher, launcher_options)
    summary = run_cv(resolved, folds, stratified, same_model, str(sc_ckpt) if sc_ckpt else None,
                     tuple(seeds) if seeds else None, chosen)  # fmt: skip
    if "per_seed" not in summary:
        return _cross_validation(cv_directory(resolved, folds, stratified), summary)
    seeded = [_cross_validation(Path(s["directory"]), s) for s in summary["per_seed"]]
    return CrossValidation(Path(summary["directory"]), summary["model"], summary["dataset"], [],
                           summary["mean"], summary["std"], seeded)  # fmt: skip


def _cross_validation(directory: Path, summary: dict[str, Any]) -> CrossValidation:
    return CrossValidation(
        directory, summary["model"], summary["dataset"],
        [Fold(r["fold"], Path(r["run"]), r["val"]) for r in summary["per_fold"]],
        summary["mean"], summary["std"],
    )  # fmt: skip


def _launcher(config: str | Path | None, name: str | None, options: dict[str, Any] | None) -> Any:
    """The launcher asked for: the arguments over the config file's ``[launcher]`` table."""
    from gvetool.config import launcher_table
    from gvetool.fanout import launcher_named

    table = launcher_table(Path(config) if config else None)
    chosen = name or table.pop("name", None)
    table.pop("name", None)
    return launcher_named(chosen, {**table, **(options or {})})


@quiet_unless_asked
def reproduce(
    dataset: str,
    *,
    models: list[str] | tuple[str, ...] | None = None,
    metrics: str | Sequence[str] | None = None,
    config: str | Path | None = None,
    seeds: Sequence[int] | None = None,
    launcher: str | None = None,
    launcher_options: dict[str, Any] | None = None,
    **options: Any,
) -> Reproduction:
    """The sentence classifier and the paper's ablations trained and evaluated, as
    ``gvetool reproduce``, with the metric plugins ``metrics`` (default: every one
    registered for evaluation; the table has their table columns); a rerun skips
    finished runs. ``seeds``, ``launcher``, ``launcher_options``: as for
    :func:`cross_validate`; over several seeds the rows hold means and deviations."""
    from gvetool.evaluation.scoring import parse_names
    from gvetool.reproduction import reproduce as run_reproduce
    from gvetool.reproduction import reproduce_directory

    names = None if metrics is None else parse_names(metrics)
    resolved = _resolve(None, config, {**options, "dataset": dataset})
    chosen = _launcher(config, launcher, launcher_options)
    repeats = tuple(seeds) if seeds else None
    table = run_reproduce(resolved, tuple(models) if models else None, names, repeats, chosen)
    if "seeds" in table:
        return Reproduction(reproduce_directory(resolved, tuple(table["seeds"])), table["dataset"],
                            None, table["rows"])  # fmt: skip
    return Reproduction(reproduce_directory(resolved), table["dataset"],
                        Path(table["sentence_classifier"]), table["rows"])  # fmt: skip


@quiet_unless_asked
def generate_dataset(name: str, out: str | Path, *, force: bool = False, **options: Any) -> Path:
    """Write a generated dataset (``synth``: the embedded birds) to ``out``, as ``gvetool
    data synth`` does; ``options`` are the generator's (``classes=``, ``images_per_class=``,
    ...). Returns ``out``, ready for ``train(..., dataset=name, data_root=out)``."""
    from gvetool.plugins import get_plugins

    get_plugins().datasets.get(name).load_step("generate")(Path(out), force=force, **options)
    return Path(out)


@dataclass(frozen=True)
class FeatureStoreInfo:
    """Where a dataset's features are, and their shape."""

    directory: Path
    images: int
    dim: int


@quiet_unless_asked
def prepare_dataset(name: str, data_root: str | Path) -> dict[str, int]:
    """Turn a dataset's raw release files in ``data_root`` into the layout gvetool reads,
    as ``gvetool data prepare``; returns what was written (counts by kind)."""
    from gvetool.plugins import get_plugins

    return dict(get_plugins().datasets.get(name).load_step("prepare")(Path(data_root)))


@quiet_unless_asked
def download_dataset(
    name: str, data_root: str | Path | None = None, *, mirror: str | None = None
) -> Path:
    """Download a dataset's public release (resumable), as ``gvetool data download``;
    returns the folder it is in."""
    from gvetool.paths import default_data_root
    from gvetool.plugins import get_plugins

    root = Path(data_root) if data_root else default_data_root(name)
    get_plugins().datasets.get(name).load_step("download")(root, mirror)
    return root


@quiet_unless_asked
def compute_features(
    dataset: str,
    encoder: str,
    *,
    encoder_weights: str | None = None,
    encoder_remove_last: int | None = None,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    num_workers: int = 0,
) -> FeatureStoreInfo:
    """Encode every image of ``dataset`` into the feature store once (resumably), as
    ``gvetool data features``."""
    from gvetool.data.encoder import ExtractionOptions, build_encoder
    from gvetool.data.open import open_dataset

    options = {"weights": encoder_weights, "remove_last": encoder_remove_last}
    provider = build_encoder(encoder, **{k: v for k, v in options.items() if v is not None})
    corpus = open_dataset(dataset, Path(data_root) if data_root else None)
    store = provider.open_store(corpus, Path(cache_dir) if cache_dir else None,
                                ExtractionOptions(batch_size, device, num_workers))  # fmt: skip
    return FeatureStoreInfo(store.directory, len(store), store.dim)


@quiet_unless_asked
def dataset_info(
    dataset: str,
    *,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    class_split: str | None = None,
    min_count: int = 1,
) -> dict[str, Any]:
    """Images, captions and classes per split, vocabulary size and feature dim, as
    ``gvetool data info --json`` prints them."""
    from gvetool.data.features import open_precomputed
    from gvetool.data.open import open_dataset
    from gvetool.data.vocab import Vocabulary

    corpus = open_dataset(dataset, Path(data_root) if data_root else None, class_split)
    vocab = Vocabulary.from_tokens(corpus.vocabulary_source().tokens(), min_count=min_count)
    cache = Path(cache_dir) if cache_dir else None
    store = open_precomputed(corpus, cache) if corpus.features is not None else None
    report: dict[str, Any] = {
        "dataset": corpus.name,
        "root": str(corpus.root),
        "classes": len(corpus.class_names) if corpus.class_names else None,
        "vocabulary": len(vocab),
        "feature_dim": store.dim if store else None,
        "feature_store": str(store.directory) if store else None,
        "splits": {},
        "notes": corpus.notes,
    }
    for name, split in corpus.splits.items():
        if store:
            store.rows(split.image_ids, what=f"{name} images")
        report["splits"][name] = {
            "images": len(split.image_ids),
            "captions": split.num_captions,
            "classes": len(set(split.class_ids.tolist())) if split.class_ids is not None else None,
        }
    return report


def split_classes(
    dataset: str,
    *,
    ratio: float = 0.5,
    seed: int = 0,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
) -> Path:
    """Partition the classes into two disjoint parts, written as JSON (as ``gvetool split
    classes``); train on one with ``class_split=f"{path}:1"``. Returns the file."""
    from gvetool.data.class_split import make_class_split, save_class_split
    from gvetool.data.open import open_dataset

    corpus = open_dataset(dataset, Path(data_root) if data_root else None)
    if corpus.class_names is None:
        raise GvetoolError(f"dataset '{dataset}' has no classes to split")
    split = make_class_split(corpus.class_names, ratio, seed)
    path = Path(out) if out else Path(f"class-split-{dataset}-{ratio:g}-{seed}.json")
    save_class_split(path, split)
    return path


@quiet_unless_asked
def run_demo(out: str | Path = "gvetool-demo", *, quick: bool = False, threads: int = 1) -> Path:
    """The whole pipeline on the embedded birds (``gvetool demo``); returns the report."""
    from gvetool.demo import run_demo as run_pipeline

    report, _ = run_pipeline(Path(out), quick, threads)
    return report


def runs(out: str | Path = "runs") -> list[Run]:
    """Every run below ``out`` (cv folds and reproduce runs included), newest first."""
    from gvetool.engine.runlist import list_runs

    return [Run.open(summary.path) for summary in list_runs(Path(out))]


def _names(kind: str) -> list[str]:
    from gvetool.plugins import get_plugins

    return getattr(get_plugins(), kind).names()


def list_models() -> list[str]:
    """Names of every model an installed plugin registers (built-ins included)."""
    return _names("models")


def list_datasets() -> list[str]:
    """Names of every dataset an installed plugin registers."""
    return _names("datasets")


def list_encoders() -> list[str]:
    """Names of every image encoder (family) an installed plugin registers."""
    return _names("encoders")


def list_metrics() -> list[str]:
    """Names of every metric an installed plugin registers (``evaluate(metrics=...)``,
    ``val_metrics``)."""
    return _names("metrics")


def list_trackers() -> list[str]:
    """Names of every experiment tracker an installed plugin registers (``tracker=``)."""
    return _names("trackers")


def list_launchers() -> list[str]:
    """Names of every job launcher an installed plugin registers (``launcher=`` of
    :func:`cross_validate` and :func:`reproduce`)."""
    return _names("launchers")
