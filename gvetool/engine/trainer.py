"""The training loop, readable top to bottom.

    open data -> build model (+ frozen sentence classifier for GVE) -> for each epoch:
    shuffle (fixed by seed and epoch) -> steps -> validate -> checkpoint

Exact resume: the data order of an epoch is a function of (seed, epoch) only, and
``last.pt`` stores the weights, the optimizer, the torch RNG state and the position
(epoch, step); a resumed run therefore takes the same steps with the same random numbers
as an uninterrupted one. ``last.pt`` is written atomically at the end of every epoch and
every ``checkpoint_every`` steps; ``best.pt`` when validation improves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from gvetool import console
from gvetool.config import TrainConfig
from gvetool.data.captions import CaptionExamples, whole_batches
from gvetool.data.corpus import Corpus
from gvetool.data.encoder import ExtractionOptions, build_encoder
from gvetool.data.features import FeatureStore
from gvetool.data.open import open_configured
from gvetool.data.vocab import Vocabulary
from gvetool.engine.adam import Adam
from gvetool.engine.allocator import return_large_blocks_promptly
from gvetool.engine.checkpoint import load_checkpoint, save_checkpoint
from gvetool.engine.distributed import Distributed
from gvetool.engine.interrupt import GracefulStop, Interrupted
from gvetool.engine.precision import autocast
from gvetool.engine.rundir import find_runs, new_run_dir, write_run_info
from gvetool.engine.runlist import clear_running, mark_running
from gvetool.engine.transfer import adapt_weights, apply_freeze, token_map, transfer_vocabulary
from gvetool.errors import GvetoolError
from gvetool.io import write_text
from gvetool.plugins import get_plugins
from gvetool.progress import progress_bar


class LossModule(nn.Module):
    """Puts ``model.loss`` inside ``forward``, where DistributedDataParallel expects it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, term: Any) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.loss(batch) if term is None else self.model.loss(batch, term)


def backward_terms(
    stepper: nn.Module,
    batch: Any,
    terms: Sequence[Any],
    forward_context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, float]:
    """Backpropagate the loss of ``batch`` one term at a time; returns the step's logs.

    A model whose loss is a sum of terms lists them with ``loss_terms(batch)`` (GVE:
    cross-entropy, then REINFORCE in groups of rows) and computes each with
    ``loss(batch, term)``. Each term's graph is freed by its own backward pass before the
    next term is built, so a step needs the memory of its largest term instead of their
    sum; the gradient is the same (the gradient of a sum is the sum of the gradients,
    which ``backward`` accumulates). Under DistributedDataParallel the accumulated
    gradients are averaged once, with the last term. ``logs["loss"]`` is the terms' sum.
    Each term's forward pass runs inside ``forward_context()`` (``--precision``'s
    autocast), its backward pass outside, as autocast asks.
    """
    logs: dict[str, float] = {"loss": 0.0}
    for index, term in enumerate(terms):
        last = index == len(terms) - 1
        defer_sync = isinstance(stepper, DistributedDataParallel) and not last
        with stepper.no_sync() if defer_sync else contextlib.nullcontext():
            with forward_context():
                loss, term_logs = stepper(batch, term)
            loss.backward()
        logs["loss"] += float(loss.detach())
        logs.update((key, value) for key, value in term_logs.items() if key != "loss")
    return logs


def epoch_batches(
    count: int, batch_size: int, seed: int, epoch: int, world: int
) -> list[np.ndarray]:
    """The global batches of one epoch: a permutation fixed by ``(seed, epoch)``.

    The last, smaller batch is trimmed to a multiple of ``world`` so that every process
    gets an equal slice (equal slices keep N-process training equal to 1-process).
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(count, generator=generator).numpy()
    full = count // batch_size
    out = [order[i * batch_size : (i + 1) * batch_size] for i in range(full)]
    rest = order[full * batch_size :]
    rest = rest[: len(rest) - len(rest) % world]
    return [*out, rest] if len(rest) else out


def _tensorboard(run_dir: Path) -> Any:
    """A TensorBoard writer when the ``tensorboard`` extra is installed, else ``None``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _batches_of(
    train_set: CaptionExamples,
    batches: list[np.ndarray],
    config: TrainConfig,
    dist: Distributed,
    pin: bool,
) -> Any:
    """This process's slices of ``batches``, fetched by worker processes if asked for.

    ``pin`` (training on CUDA) puts each batch in page-locked memory, so that its copy to
    the GPU runs asynchronously (``non_blocking``) instead of through a staging buffer.
    """
    mine = [batch[dist.rank :: dist.world] for batch in batches]
    if not config.num_workers:
        if pin:
            return (train_set.__getitems__(indices).pin_memory() for indices in mine)
        return (train_set.__getitems__(indices) for indices in mine)
    # Its own generator: a DataLoader with workers otherwise draws its seed from the
    # global RNG, which would shift every later dropout mask and break exact resume.
    loader = DataLoader(
        train_set,
        batch_sampler=mine,
        collate_fn=whole_batches,
        num_workers=config.num_workers,
        pin_memory=pin,
        generator=torch.Generator(),
    )
    return iter(loader)


def train(config: TrainConfig, resume: Path | None = None) -> Path:
    """Train ``config.model`` on ``config.dataset``; returns the run directory."""
    dist = Distributed.from_env()
    device = dist.device(config.device)
    dist.start(device)
    try:
        return _train(config, resume, dist, device)
    finally:
        dist.stop()


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
    sc_config = TrainConfig(**checkpoint["config"])
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


def _train(
    config: TrainConfig, resume: Path | None, dist: Distributed, device: torch.device
) -> Path:
    if config.threads:
        torch.set_num_threads(config.threads)
    spec = get_plugins().models.get(config.model)
    dataset_spec = get_plugins().datasets.get(config.dataset)
    if spec.needs_classes and not dataset_spec.has_classes:
        raise GvetoolError(
            f"model '{spec.name}' needs class labels and dataset '{config.dataset}' has none"
        )
    if config.batch_size % dist.world:
        raise GvetoolError(
            f"batch_size {config.batch_size} must be divisible by the {dist.world} processes"
        )
    previous = load_checkpoint(resume / "last.pt", expect_model=config.model) if resume else None

    # --- data ---------------------------------------------------------------------------
    corpus, store = _open_data(config, dist)
    if spec.needs_classes and not corpus.has_classes:
        raise GvetoolError(f"model '{spec.name}' needs class labels and '{corpus.name}' has none")
    train_split = corpus.split("train")
    source = None if previous or not config.transfer_from else _transfer_source(config)
    if previous:
        vocab = Vocabulary(tuple(previous["vocabulary"]))
    elif source:
        vocab, unknown = transfer_vocabulary(
            source["vocabulary"], corpus.vocabulary_source().tokens(), config.vocab_mode,
            config.min_count,
        )  # fmt: skip
        console.err().print(
            f"transfer from {config.transfer_from}: {len(vocab)} words ({config.vocab_mode}); "
            f"{unknown:.1%} of the training tokens are unknown to it",
            highlight=False,
        )
    else:
        vocab = Vocabulary.from_tokens(corpus.vocabulary_source().tokens(), config.min_count)
    num_classes = len(corpus.class_names or [])
    train_set = CaptionExamples(train_split, vocab, store, config.max_caption_len or None)
    val_split = corpus.split("val")
    for split, what in ((train_split, "train on"), (val_split, "choose best.pt by")):
        if split.num_captions == 0:
            raise GvetoolError(
                f"the {split.name} split of '{corpus.name}' has no captions, nothing to {what}; "
                "check the dataset files (or the class split / fold that selects them)"
            )

    # --- model, reward classifier, optimizer --------------------------------------------
    torch.manual_seed(config.seed)
    model = spec.build(config, len(vocab), store.dim, num_classes).to(device)
    task = spec.task
    if task.generates:  # activations sized by sentence lengths fragment the heap: see allocator
        return_large_blocks_promptly()
    sc_path = None
    if spec.reward_model is not None:
        sc_path = _attach_reward_model(model, spec.reward_model, config, corpus, vocab, store.dim)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    epoch, step, global_step, history = 0, 0, 0, []
    resumed_logs: dict[str, float] = {}
    if source:
        if source["feature_dim"] != store.dim:
            raise GvetoolError(
                f"{config.transfer_from} was trained on {source['feature_dim']}-d features, "
                f"'{corpus.name}' has {store.dim}-d; use the same encoder"
            )
        adapt_weights(model, source, vocab)
    apply_freeze(model, config.freeze)
    if config.init_from and not previous:
        model.load_state_dict(load_checkpoint(Path(config.init_from), config.model)["state_dict"])
    if previous:
        model.load_state_dict(previous["state_dict"])
        optimizer.load_state_dict(previous["optimizer"])
        torch.set_rng_state(previous["rng"]["torch"])
        epoch, step, global_step = previous["epoch"], previous["step"], previous["global_step"]
        history = previous["metrics"]
        resumed_logs = previous.get("epoch_logs") or {}
    stepper = DistributedDataParallel(LossModule(model)) if dist.world > 1 else LossModule(model)

    # --- run directory --------------------------------------------------------------------
    run_dir = resume
    if run_dir is None and dist.is_main:
        run_dir = new_run_dir(Path(config.out), config.model, config.dataset)
        config.save(run_dir / "config.toml")
        write_run_info(run_dir, config.model, config.dataset, corpus.class_names, vocab.words)
    run_dir = dist.from_main(run_dir)
    if dist.is_main:
        mark_running(run_dir)
    validate = (
        task.make_validation(config, val_split, vocab, store, device) if dist.is_main else None
    )
    board = _tensorboard(run_dir) if dist.is_main else None
    best_metric = task.best_metric(config)
    forward_context = functools.partial(autocast, config.precision, device)
    best = max((h["val"].get(best_metric, float("-inf")) for h in history), default=float("-inf"))

    def checkpoint(epoch_: int, step_: int, epoch_logs: dict[str, float]) -> dict[str, Any]:
        return {
            "model": config.model,
            "task": task.name,
            "config": dataclasses.asdict(config),
            "vocabulary": list(vocab.words),
            "class_names": corpus.class_names,
            "feature_dim": store.dim,
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch_,
            "step": step_,
            "global_step": global_step,
            "rng": {"torch": torch.get_rng_state()},
            "metrics": history,
            "epoch_logs": epoch_logs,  # sums of the epoch's step logs so far (mid-epoch)
            "sentence_classifier": str(sc_path) if sc_path else None,
        }

    if dist.is_main:
        console.err().print(
            f"training {config.model} on {corpus.name}: {len(train_set)} captions, {len(vocab)} "
            f"words, {store.dim}-d features, {num_classes or 'no'} classes -> {run_dir}",
            highlight=False,
        )

    # --- the loop -----------------------------------------------------------------------------
    with GracefulStop(enabled=dist.world == 1) as stop:
        try:
            while epoch < config.epochs:
                started = time.perf_counter()
                batches = epoch_batches(
                    len(train_set), config.batch_size, config.seed, epoch, dist.world
                )
                logs_sum: dict[str, float] = dict(resumed_logs) if step else {}
                with progress_bar(len(batches), f"epoch {epoch + 1}/{config.epochs}") as advance:
                    advance(step)
                    fetched = _batches_of(
                        train_set, batches[step:], config, dist, pin=device.type == "cuda"
                    )
                    while step < len(batches):
                        model.train()
                        optimizer.zero_grad(set_to_none=True)  # before forward: less memory held
                        batch = next(fetched).to(device, non_blocking=True)
                        # token mean over the global batch, whichever process holds which part
                        batch.ce_tokens = train_set.token_count(batches[step]) / dist.world
                        with forward_context():
                            terms = (
                                model.loss_terms(batch) if hasattr(model, "loss_terms") else [None]
                            )
                        logs = backward_terms(stepper, batch, terms, forward_context)
                        # Averaged gradients are the same on every rank, so every rank
                        # stops together without a collective of its own.
                        local_loss = dist.world == 1 and not math.isfinite(logs["loss"])
                        if local_loss or not _finite_gradients(model):
                            _stop_non_finite(f"the loss became {logs['loss']}", run_dir,
                                             epoch, step)  # fmt: skip
                        if config.grad_clip:
                            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                        optimizer.step()
                        step += 1
                        global_step += 1
                        for key, value in logs.items():
                            logs_sum[key] = logs_sum.get(key, 0.0) + value
                        advance(1, "  ".join(f"{k} {v:.3f}" for k, v in logs.items()))
                        due = config.checkpoint_every and global_step % config.checkpoint_every == 0
                        if due or stop.requested:
                            _check_weights(model, run_dir, epoch, step - 1)  # every rank: no hang
                            if dist.is_main:
                                save_checkpoint(
                                    run_dir / "last.pt", checkpoint(epoch, step, logs_sum)
                                )
                        if stop.requested:
                            raise Interrupted(
                                f"stopped at epoch {epoch + 1}, step {step} of {len(batches)}; "
                                f"saved {run_dir / 'last.pt'}; continue with: gvetool train "
                                f"--resume {run_dir}"
                            )
                epoch, step = epoch + 1, 0
                _check_weights(model, run_dir, epoch - 1, len(batches) - 1)
                if validate is not None:
                    val = validate(model)
                    train_logs = {k: v / max(1, len(batches)) for k, v in logs_sum.items()}
                    entry = {
                        "epoch": epoch,
                        "global_step": global_step,
                        "train": train_logs,
                        "val": val,
                        "seconds": round(time.perf_counter() - started, 3),
                    }
                    history.append(entry)
                    improved = val.get(best_metric, float("-inf")) > best
                    if improved:
                        best = val[best_metric]
                        save_checkpoint(run_dir / "best.pt", checkpoint(epoch, 0, {}))
                    save_checkpoint(run_dir / "last.pt", checkpoint(epoch, 0, {}))
                    _write_logs(run_dir, history)
                    _report(entry, config.epochs, best_metric, improved)
                    if board is not None:
                        for group in ("train", "val"):
                            for key, value in entry[group].items():
                                board.add_scalar(f"{group}/{key}", value, epoch)
                        board.flush()
                dist.barrier()
        except KeyboardInterrupt:
            if (run_dir / "last.pt").is_file():
                raise Interrupted(
                    "interrupted; continue from the last checkpoint with: gvetool train --resume "
                    f"{run_dir}"
                ) from None
            raise Interrupted(
                "interrupted before the first checkpoint: nothing to resume (--checkpoint-every N "
                "also saves during epochs)"
            ) from None
        finally:
            if dist.is_main:
                clear_running(run_dir)
            if validate is not None:
                validate.close()
            if board is not None:
                board.close()
    return run_dir


def _stop_non_finite(what: str, run_dir: Path, epoch: int, step: int) -> None:
    """Stop before a non-finite loss or weights reach the optimizer or a checkpoint."""
    last = run_dir / "last.pt"
    kept = f"{last} is the last good checkpoint" if last.is_file() else "no checkpoint was saved"
    raise GvetoolError(
        f"training stopped: {what} at epoch {epoch + 1}, step {step + 1}; nothing non-finite "
        f"was saved and {kept}; lower --lr, set --grad-clip, or check the features"
    )


def _finite_gradients(model: nn.Module) -> bool:
    """A non-finite loss anywhere makes the (averaged) gradients non-finite everywhere."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


def _check_weights(model: nn.Module, run_dir: Path, epoch: int, step: int) -> None:
    """Every process holds the same weights, so each reaches the same verdict alone."""
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        _stop_non_finite("the weights became NaN or infinite", run_dir, epoch, step)


def _write_logs(run_dir: Path, history: list[dict[str, Any]]) -> None:
    write_text(run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    write_text(run_dir / "train.log", "".join(_line(h) + "\n" for h in history))


def _line(entry: dict[str, Any]) -> str:
    train = "  ".join(f"{k} {v:.3f}" for k, v in entry["train"].items())
    val = "  ".join(f"{k} {v:.3f}" for k, v in entry["val"].items())
    return f"epoch {entry['epoch']}  {train}  | val {val}  ({entry['seconds']:.1f} s)"


def _report(entry: dict[str, Any], epochs: int, best_metric: str, improved: bool) -> None:
    marker = f"  [best {best_metric}]" if improved else ""
    console.out().print(
        _line(entry).replace(f"epoch {entry['epoch']}", f"epoch {entry['epoch']}/{epochs}", 1)
        + marker,
        highlight=False,
    )
