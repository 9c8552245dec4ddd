"""The training loop, readable top to bottom.

    set up (gvetool.engine.setup) -> for each epoch: the epoch's batches (fixed by seed
    and epoch) -> steps -> validate -> checkpoint

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
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gvetool.config.resolution import best_for_run
from gvetool.config.schema import TrainConfig
from gvetool.engine.checkpoint import rng_states, save_checkpoint
from gvetool.engine.distributed import Distributed
from gvetool.engine.graphed_step import LOG_EVERY, GraphedStep
from gvetool.engine.interrupt import GracefulStop, Interrupted
from gvetool.engine.precision import WEIGHT_DTYPES, autocast, cuda_products
from gvetool.engine.runlist import clear_failed, clear_running, mark_failed, mark_running
from gvetool.engine.setup import Run, set_up
from gvetool.engine.steps import backward_terms, batches_of, epoch_batches
from gvetool.engine.tracking import EpochRecord, TrackedRun, Trackers, epoch_line
from gvetool.nn.execution import execution_for
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.utils.locking import exclusive
from gvetool.utils.progress import progress_bar


def train(config: TrainConfig, resume: Path | None = None) -> Path:
    """Train ``config.model`` on ``config.dataset``; returns the run directory."""
    dist = Distributed.from_env()
    device = dist.device(config.device)
    dist.start(device, config.dist_timeout_min)
    try:
        with contextlib.ExitStack() as locks:  # rank 0 writes, so rank 0 holds the lock
            if resume is not None and dist.is_main:
                locks.enter_context(_one_writer(resume))
            run = set_up(config, resume, dist, device)
            if run.validation is not None:  # closed however training ends, or never starts
                locks.callback(run.validation.close)
            if resume is None and dist.is_main:
                locks.enter_context(_one_writer(run.run_dir))
            try:
                Trainer(run).fit()
            except Interrupted:
                raise
            except Exception as exc:  # said where the run is listed, then reported as ever
                if dist.is_main:
                    mark_failed(run.run_dir, exc)
                raise
            return run.run_dir
    finally:
        dist.stop()


def _one_writer(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    return exclusive(
        run_dir,
        f"{run_dir} is being trained by another process; wait for it to end (or stop it "
        "with Ctrl-C), then resume",
    )


class Trainer:
    """Runs the epochs of a set-up run; rank 0 validates, writes and speaks."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.config, self.model, self.position = run.config, run.model, run.position
        self.main = run.dist.is_main
        self.forward_context = functools.partial(autocast, self.config.precision, run.device)
        self.dtype = WEIGHT_DTYPES[self.config.precision]
        self.choice = best_for_run(self.config, run.spec.task)
        self.best = self.choice.best_of(self.choice.scores_in(run.position.history))
        self.graphed = _graphed_step(run, self.forward_context) if self.config.cuda_graph else None

    @property
    def best_metric(self) -> str:
        """The validation number that picks ``best.pt``."""
        return self.choice.key

    def fit(self) -> None:
        run, config = self.run, self.config
        validate = trackers = None
        status = "failed"
        if self.main:
            clear_failed(run.run_dir)  # a resume starts again
            mark_running(run.run_dir)
            validate = run.validation
            console.err().print(
                f"training {config.model} on {run.corpus.name}: {len(run.train_set)} captions, "
                f"{len(run.vocab)} words, {run.store.dim}-d features, "
                f"{len(run.corpus.class_names or []) or 'no'} classes -> {run.run_dir}",
                highlight=False,
            )
            if self.position.global_step:
                console.err().print(self._resuming(), highlight=False)
            trackers = Trackers(config, self._tracked())
        with GracefulStop(enabled=run.dist.world == 1) as stop, cuda_products(config.precision):
            try:
                while self.position.epoch < config.epochs:
                    started = time.perf_counter()
                    start_epoch = getattr(self.model, "start_epoch", None)
                    if start_epoch is not None:  # e.g. GVE's reward dropout
                        start_epoch(self.position.epoch)
                        if self.graphed is not None:  # captured as the model was
                            self.graphed.forget()
                    train_logs = self.epoch(stop)
                    if validate is not None and trackers is not None:
                        self.end_epoch(validate(self.model), train_logs, started, trackers)
                    run.dist.barrier()
                status = "finished"
            except KeyboardInterrupt:
                status = "interrupted"
                raise self._interrupted() from None
            except Interrupted:  # Ctrl-C seen between steps: last.pt is saved
                status = "interrupted"
                raise
            finally:
                if self.main:
                    clear_running(run.run_dir)
                if trackers is not None:
                    best = run.run_dir / "best.pt"
                    trackers.finish(status, best if best.is_file() else None)

    def _tracked(self) -> TrackedRun:
        """What the trackers are told of this run as it starts or resumes."""
        run = self.run
        return TrackedRun(
            run.run_dir,
            self.config.model,
            run.corpus.name,
            dataclasses.asdict(self.config),
            self.position.global_step > 0,
            list(self.position.history),
        )

    def _resuming(self) -> str:
        """Where a resumed run continues, as the Ctrl-C line said it stopped."""
        epoch, step = self.position.epoch, self.position.step
        if step == 0:
            return f"resuming at the start of epoch {epoch + 1}"
        steps = len(
            epoch_batches(
                len(self.run.train_set),
                self.config.batch_size,
                self.config.seed,
                epoch,
                self.run.dist.world,
            )
        )
        return f"resuming at epoch {epoch + 1}, after step {step} of {steps}"

    def epoch(self, stop: GracefulStop) -> dict[str, float]:
        """The epoch's remaining steps; returns its mean step logs."""
        run, config, position = self.run, self.config, self.position
        batches = epoch_batches(
            len(run.train_set), config.batch_size, config.seed, position.epoch, run.dist.world
        )
        sums: dict[str, float] = dict(position.epoch_logs) if position.step else {}
        label = f"epoch {position.epoch + 1}/{config.epochs}"
        with progress_bar(len(batches), label) as advance:
            advance(position.step)
            fetched = batches_of(
                run.train_set,
                batches[position.step :],
                config,
                run.dist,
                pin=run.device.type == "cuda",
            )
            while position.step < len(batches):
                batch = next(fetched).to(run.device, non_blocking=True, dtype=self.dtype)
                # token mean over the global batch, whichever process holds which part
                batch.ce_tokens = run.train_set.token_count(batches[position.step]) / run.dist.world
                logs = self.step(batch)  # floats, or tensors on the device (--cuda-graph)
                position.step += 1
                position.global_step += 1
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                advance(1, self._status(logs))
                every = config.checkpoint_every
                if (every and position.global_step % every == 0) or stop.requested:
                    self._check_skipped()
                    self._check_weights(position.step - 1)  # on every rank: none hangs
                    if self.main:
                        position.epoch_logs = {key: float(v) for key, v in sums.items()}
                        save_checkpoint(run.run_dir / "last.pt", self.checkpoint())
                if stop.requested:
                    raise Interrupted(
                        f"stopped at epoch {position.epoch + 1}, step {position.step} of "
                        f"{len(batches)}; saved {run.run_dir / 'last.pt'}; continue with: "
                        f"gvetool train --resume {run.run_dir}",
                        stop.signum,
                    )
        self._check_skipped()
        position.epoch, position.step, position.epoch_logs = position.epoch + 1, 0, {}
        self._check_weights(len(batches) - 1, epoch=position.epoch - 1)
        return {key: float(value) / max(1, len(batches)) for key, value in sums.items()}

    def _status(self, logs: dict[str, Any]) -> str | None:
        """The progress bar's text for a step's logs. A captured step's stay on the device
        and are read (with its skip flags) every ``LOG_EVERY`` steps: ``None`` between."""
        if self.graphed is not None:
            if self.position.step % LOG_EVERY:
                return None
            self._check_skipped()
        return "  ".join(f"{k} {float(v):.3f}" for k, v in logs.items())

    def _check_skipped(self) -> None:
        """Stop at a captured step that skipped its update (non-finite loss or gradients)."""
        if self.graphed is None:
            return
        flags = self.graphed.skipped_steps()
        if any(flags):
            step = self.position.step - len(flags) + flags.index(True)
            self._stop_non_finite(
                "the loss or a gradient became non-finite (its update was skipped)", step
            )

    def step(self, batch: Any) -> dict[str, Any]:
        """One optimizer step on ``batch``; stops before anything non-finite is applied.
        Under ``--cuda-graph`` the captured step, whose logs stay on the device."""
        if self.graphed is not None:
            return self.graphed(batch).logs
        model, config = self.model, self.config
        model.train()
        self.run.optimizer.zero_grad(set_to_none=True)  # before the forward: less memory held
        with self.forward_context():
            terms = model.loss_terms(batch) if hasattr(model, "loss_terms") else [None]
        logs = backward_terms(self.run.stepper, batch, terms, self.forward_context)
        # Averaged gradients are the same on every rank, so every rank stops together
        # without a collective of its own.
        local_loss = self.run.dist.world == 1 and not math.isfinite(logs["loss"])
        if local_loss or not _finite_gradients(model):
            self._stop_non_finite(f"the loss became {logs['loss']}", self.position.step)
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        self.run.optimizer.step()
        return logs

    def end_epoch(
        self,
        val: dict[str, float],
        train_logs: dict[str, float],
        started: float,
        trackers: Trackers,
    ) -> None:
        """Record the epoch, keep ``best.pt`` by the task's metric, write ``last.pt``, tell
        the trackers and print the epoch's line."""
        entry = {
            "epoch": self.position.epoch,
            "global_step": self.position.global_step,
            "train": train_logs,
            "val": val,
            "seconds": round(time.perf_counter() - started, 3),
        }
        value = val.get(self.best_metric)
        improved = value is not None and self.choice.better(value, self.best)
        self.position.history.append(entry)
        if improved:
            self.best = value
            save_checkpoint(self.run.run_dir / "best.pt", self.checkpoint())
        last = self.run.run_dir / "last.pt"
        save_checkpoint(last, self.checkpoint())
        history = self.position.history
        trackers.log_epoch(EpochRecord(entry, list(history), self.best_metric, improved, last))
        marker = f"  [best {self.best_metric}]" if improved else ""
        line = epoch_line(entry, of=self.config.epochs) + marker
        console.out().print(line, highlight=False, markup=False)

    def checkpoint(self) -> dict[str, Any]:
        run, position = self.run, self.position
        return {
            "model": self.config.model,
            "task": run.spec.task.name,
            "config": dataclasses.asdict(self.config),
            "vocabulary": list(run.vocab.words),
            "class_names": run.corpus.class_names,
            "feature_dim": run.store.dim,
            "state_dict": self.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "epoch": position.epoch,
            "step": position.step,
            "global_step": position.global_step,
            "rng": rng_states(),
            "metrics": position.history,
            "epoch_logs": position.epoch_logs,  # sums of the epoch's step logs (mid-epoch)
            "sentence_classifier": str(run.sc_path) if run.sc_path else None,
            "data_fingerprint": run.data_fingerprint,
        }

    def _interrupted(self) -> Interrupted:
        run_dir = self.run.run_dir
        if (run_dir / "last.pt").is_file():
            return Interrupted(
                f"interrupted; continue from the last checkpoint with: gvetool train --resume "
                f"{run_dir}"
            )
        return Interrupted(
            "interrupted before the first checkpoint: nothing to resume (--checkpoint-every N "
            "also saves during epochs)"
        )

    def _check_weights(self, step: int, epoch: int | None = None) -> None:
        """Every process holds the same weights, so each reaches the same verdict alone."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self._stop_non_finite("the weights became NaN or infinite", step, epoch)

    def _stop_non_finite(self, what: str, step: int, epoch: int | None = None) -> None:
        """Stop before a non-finite loss or weights reach the optimizer or a checkpoint."""
        last = self.run.run_dir / "last.pt"
        kept = (
            f"{last} is the last good checkpoint" if last.is_file() else "no checkpoint was saved"
        )
        epoch = self.position.epoch if epoch is None else epoch
        raise GvetoolError(
            f"training stopped: {what} at epoch {epoch + 1}, step {step + 1}; nothing non-finite "
            f"was saved and {kept}; lower --lr, set --grad-clip, or check the features"
        )


def _finite_gradients(model: nn.Module) -> bool:
    """A non-finite loss anywhere makes the (averaged) gradients non-finite everywhere."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


def _graphed_step(run: Run, forward_context: Any) -> GraphedStep:
    """The captured step of ``--cuda-graph``, or one line saying why this run cannot have it."""
    config = run.config
    if run.dist.world > 1:
        raise GvetoolError(
            "--cuda-graph captures the step of one process; under torchrun train without it"
        )
    if not hasattr(run.model, "fixed_shape_loss"):
        raise GvetoolError(
            f"model '{config.model}' has no fixed_shape_loss, which --cuda-graph captures; "
            "train it without --cuda-graph"
        )
    reward = getattr(run.model, "sentence_classifier", None)  # a RewardedModel's
    if reward is not None and not hasattr(reward, "forward_fixed_shape"):
        raise GvetoolError(
            f"the reward model of '{config.model}' has no forward_fixed_shape, which "
            "--cuda-graph captures; train without --cuda-graph"
        )
    capture = execution_for(run.device).captured_steps
    return GraphedStep(
        run.model,
        run.optimizer,
        run.train_set.longest_caption(),
        forward_context,
        config.grad_clip,
        capture,
    )
