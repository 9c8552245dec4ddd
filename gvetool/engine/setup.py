"""Everything a training run needs before its first step, in one object.

    check the model fits the dataset -> open the data (rank 0 builds the feature store)
    -> vocabulary (the checkpoint's, a transfer source's, or the training captions')
    -> model (+ its frozen reward model) -> optimizer -> weights to start from
    (transfer, --init-from, or the resumed checkpoint with its RNG state and position)
    -> run directory

The order is part of exact resume: the model is built right after seeding, and a resumed
run restores the RNG state last, so both take the same random numbers from there on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gvetool.config.resolution import validation_metrics
from gvetool.config.schema import TrainConfig
from gvetool.data.captions import CaptionExamples
from gvetool.data.corpus import Corpus, Split
from gvetool.data.features import FeatureStore
from gvetool.data.image_features import ExtractionOptions, build_encoder
from gvetool.data.open import open_configured
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.allocator import return_freed_memory, return_large_blocks_promptly
from gvetool.engine.checkpoint import load_checkpoint, restore_rng_states
from gvetool.engine.distributed import Distributed
from gvetool.engine.precision import WEIGHT_DTYPES
from gvetool.engine.rundir import find_runs, new_run_dir, write_run_info
from gvetool.engine.steps import LossModule
from gvetool.engine.transfer import adapt_weights, apply_freeze, token_map, transfer_vocabulary
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.specs import ModelSpec
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError


@dataclass
class Position:
    """Where training stands: a new run starts at zero, a resumed one where it stopped."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_logs: dict[str, float] = field(default_factory=dict)  # sums so far (mid-epoch)


@dataclass
class Run:
    """A run, set up: its data, model, optimizer, position and directory."""

    config: TrainConfig
    dist: Distributed
    device: torch.device
    spec: ModelSpec
    corpus: Corpus
    store: FeatureStore
    vocab: Vocabulary
    train_set: CaptionExamples
    val_split: Split
    model: nn.Module
    optimizer: Adam
    stepper: nn.Module
    position: Position
    run_dir: Path
    sc_path: Path | None
    data_fingerprint: dict[str, Any]  # the training split's, checked when resuming
    validation: Any = None  # the task's after-epoch validation, on the main process


def set_up(
    config: TrainConfig, resume: Path | None, dist: Distributed, device: torch.device
) -> Run:
    """Prepare the run ``config`` describes (or continue the one in ``resume``)."""
    # Checked before any work; a config made in code gets the defaults, written in full so
    # the run records which metrics chose its best.pt.
    names = ",".join(spec.name for spec in validation_metrics(config))
    config = dataclasses.replace(config, val_metrics=names)
    if config.threads:
        torch.set_num_threads(config.threads)
    spec = get_plugins().models.get(config.model)
    _check_fits(spec, config, dist)
    previous = load_checkpoint(resume / "last.pt", expect_model=config.model) if resume else None
    corpus, store = _open_data(config, dist)
    if spec.needs_classes and not corpus.has_classes:
        raise GvetoolError(f"model '{spec.name}' needs class labels and '{corpus.name}' has none")
    source = None if previous or not config.transfer_from else _transfer_source(config)
    vocab = _vocabulary(config, corpus, previous, source)
    train_split, val_split = corpus.split("train"), corpus.split("val")
    for split, what in ((train_split, "train on"), (val_split, "choose best.pt by")):
        if split.num_captions == 0:
            raise GvetoolError(
                f"the {split.name} split of '{corpus.name}' has no captions, nothing to {what}; "
                "check the dataset files (or the class split / fold that selects them)"
            )
    data_fingerprint = train_split.fingerprint()
    if previous:
        _check_same_data(previous, corpus, store, data_fingerprint)
    train_set = CaptionExamples(train_split, vocab, store, config.max_caption_len or None)
    train_split.forget_tokens()  # encoded now; the vocabulary was built before

    torch.manual_seed(config.seed)
    num_classes = len(corpus.class_names or [])
    model = spec.build(config, len(vocab), store.dim, num_classes)
    model = model.to(device, WEIGHT_DTYPES[config.precision])
    if spec.task.generates:  # activations sized by sentence lengths fragment the heap
        return_large_blocks_promptly()
    sc_path = None
    if spec.reward_model is not None:
        sc_path = _attach_reward_model(model, spec.reward_model, config, corpus, vocab, store.dim)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    position = _starting_weights(config, model, optimizer, previous, source, store, corpus, vocab)
    stepper = DistributedDataParallel(LossModule(model)) if dist.world > 1 else LossModule(model)

    # Built (and rehearsed: a validation metric that fails, fails now) before the run's
    # folder exists, so that a run that could not validate leaves nothing behind.
    validation = None
    if dist.is_main:
        validation = spec.task.make_validation(config, val_split, vocab, store, device)
    try:
        run_dir = resume
        if run_dir is None and dist.is_main:
            run_dir = new_run_dir(Path(config.out), config.model, config.dataset)
            config.save(run_dir / "config.toml")
            write_run_info(run_dir, config.model, config.dataset, corpus.class_names, vocab.words)
        elif dist.is_main:  # how the run continues (epochs, device, paths after a move)
            config.save(run_dir / "config.toml")
        run_dir = dist.from_main(run_dir)
    except BaseException:
        if validation is not None:
            validation.close()
        raise
    return_freed_memory()  # what loading the data parsed and dropped, before the peak
    return Run(
        config,
        dist,
        device,
        spec,
        corpus,
        store,
        vocab,
        train_set,
        val_split,
        model,
        optimizer,
        stepper,
        position,
        run_dir,
        sc_path,
        data_fingerprint,
        validation,
    )


def _check_same_data(
    previous: dict[str, Any], corpus: Corpus, store: FeatureStore, now: dict[str, Any]
) -> None:
    """A resumed run must see the data it was trained on: other features or captions
    would silently turn it into a different experiment."""
    if previous["feature_dim"] != store.dim:
        raise GvetoolError(
            f"this run was trained on {previous['feature_dim']}-d features and '{corpus.name}' "
            f"at {corpus.root} now has {store.dim}-d; resume on the data it was trained on, "
            "or train a new run"
        )
    then = previous.get("data_fingerprint")  # absent in checkpoints before it was kept
    if isinstance(then, dict) and then.get("sha256") != now["sha256"]:
        raise GvetoolError(
            f"the training data of '{corpus.name}' at {corpus.root} changed since this run "
            f"started ({then.get('images')} images and {then.get('captions')} captions then, "
            f"{now['images']} and {now['captions']} now, or the same counts with other "
            "content); resume on the data it was trained on, or train a new run"
        )


def _check_fits(spec: ModelSpec, config: TrainConfig, dist: Distributed) -> None:
    """Refuse, before any work, what the model and dataset specs say cannot work."""
    dataset_spec = get_plugins().datasets.get(config.dataset)
    if spec.needs_classes and not dataset_spec.has_classes:
        raise GvetoolError(
            f"model '{spec.name}' needs class labels and dataset '{config.dataset}' has none"
        )
    if config.batch_size % dist.world:
        raise GvetoolError(
            f"batch_size {config.batch_size} must be divisible by the {dist.world} processes"
        )


def _vocabulary(
    config: TrainConfig,
    corpus: Corpus,
    previous: dict[str, Any] | None,
    source: dict[str, Any] | None,
) -> Vocabulary:
    """The checkpoint's words when resuming, a transfer's per ``--vocab``, else the corpus'."""
    if previous:
        return Vocabulary(tuple(previous["vocabulary"]))
    if source:
        vocab, unknown = transfer_vocabulary(
            source["vocabulary"],
            corpus.vocabulary_source().tokens(),
            config.vocab_mode,
            config.min_count,
        )
        console.err().print(
            f"transfer from {config.transfer_from}: {len(vocab)} words ({config.vocab_mode}); "
            f"{unknown:.1%} of the training tokens are unknown to it",
            highlight=False,
        )
        return vocab
    return Vocabulary.from_tokens(corpus.vocabulary_source().tokens(), config.min_count)


def _starting_weights(
    config: TrainConfig,
    model: nn.Module,
    optimizer: Adam,
    previous: dict[str, Any] | None,
    source: dict[str, Any] | None,
    store: FeatureStore,
    corpus: Corpus,
    vocab: Vocabulary,
) -> Position:
    """Transfer, ``--init-from`` or resume; the resumed RNG state is restored last."""
    if source:
        if source["feature_dim"] != store.dim:
            raise GvetoolError(
                f"{config.transfer_from} was trained on {source['feature_dim']}-d features, "
                f"'{corpus.name}' has {store.dim}-d; use the same encoder"
            )
        adapt_weights(model, source, vocab)
    apply_freeze(model, config.freeze, config.model)
    if config.init_from and not previous:
        model.load_state_dict(load_checkpoint(Path(config.init_from), config.model)["state_dict"])
    if not previous:
        return Position()
    model.load_state_dict(previous["state_dict"])
    optimizer.load_state_dict(previous["optimizer"])
    restore_rng_states(previous["rng"], config.device)
    return Position(
        previous["epoch"],
        previous["step"],
        previous["global_step"],
        previous["metrics"],
        previous.get("epoch_logs") or {},
    )


def _open_data(config: TrainConfig, dist: Distributed) -> tuple[Corpus, FeatureStore]:
    corpus = open_configured(config)
    provider = build_encoder(config.encoder, **config.encoder_options())
    options = ExtractionOptions(config.batch_size, config.device, config.num_workers)
    cache = Path(config.cache_dir) if config.cache_dir else None
    store = None
    if dist.is_main:  # rank 0 builds the feature store; the others then open it
        store = provider.open_store(corpus, cache, options)
    dist.barrier()
    return corpus, store or provider.open_store(corpus, cache, options)


def _attach_reward_model(
    model: nn.Module,
    reward_model: str,
    config: TrainConfig,
    corpus: Corpus,
    vocab: Vocabulary,
    feature_dim: int,
) -> Path:
    """Load the frozen reward model (``--sc-ckpt`` or the newest matching run of it)."""
    if config.sc_ckpt:
        path = Path(config.sc_ckpt)
    else:
        runs = find_runs(Path(config.out), reward_model, config.dataset, corpus.class_names)
        if not runs:
            root = f" --data-root {config.data_root}" if config.data_root else ""
            raise GvetoolError(
                f"{config.model} needs a sentence classifier ('{reward_model}') trained on "
                f"'{config.dataset}' and none was found in {config.out}/; train one first: "
                f"gvetool train {reward_model} --dataset {config.dataset}{root} (or pass "
                "--sc-ckpt PATH)"
            )
        path = runs[0] / "best.pt"
        console.err().print(f"using sentence classifier {path}", highlight=False)
    checkpoint = load_checkpoint(path, expect_model=reward_model)
    theirs, ours = checkpoint["class_names"], corpus.class_names or []
    if theirs != ours:
        raise GvetoolError(
            f"sentence classifier {path} was trained on another class set ({len(theirs)} "
            f"classes) than '{config.dataset}' has ({len(ours)}); train one on this dataset"
        )
    mapping = None
    if checkpoint["vocabulary"] != list(vocab.words) and config.transfer_from:
        mapping = token_map(vocab, Vocabulary(tuple(checkpoint["vocabulary"])))
    elif checkpoint["vocabulary"] != list(vocab.words):
        raise GvetoolError(
            f"sentence classifier {path} has another vocabulary ({len(checkpoint['vocabulary'])}"
            f" words, this run {len(vocab)}); train both on the same dataset and min_count"
        )
    sc_config = TrainConfig.from_saved(checkpoint["config"])
    spec = get_plugins().models.get(reward_model)
    classifier = spec.build(sc_config, len(checkpoint["vocabulary"]), feature_dim, len(ours))
    classifier.load_state_dict(checkpoint["state_dict"])
    model.attach_sentence_classifier(classifier.to(next(model.parameters()).device), mapping)
    return path


def _transfer_source(config: TrainConfig) -> dict[str, Any]:
    source = load_checkpoint(Path(config.transfer_from))
    kind = source.get("model")
    if not get_plugins().models.get(kind).task.generates:
        raise GvetoolError(
            f"{config.transfer_from} is a '{kind}' checkpoint; transfer starts from a "
            f"captioner ({', '.join(get_plugins().captioners())})"
        )
    if kind != config.model:
        raise GvetoolError(
            f"{config.transfer_from} is a '{kind}' checkpoint, but this run trains "
            f"'{config.model}'; transfer keeps the model type"
        )
    return source
