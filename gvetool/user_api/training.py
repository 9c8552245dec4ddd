"""Training from Python: ``train``, ``transfer`` and the runs under a folder.

The keyword options are the configuration keys the CLI's options are built from
(:class:`gvetool.config.schema.TrainConfig`: ``--hidden-size`` is ``hidden_size=``),
checked the same way, so a call and a command line of the same values train the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gvetool.user_api.results import Run
from gvetool.utils.console import quiet_unless_asked
from gvetool.utils.errors import CheckpointError, GvetoolError

if TYPE_CHECKING:
    from gvetool.config.schema import TrainConfig


SOURCE = "options"  # how errors name where a bad key came from (a call or the CLI)


def resolve_options(
    model: str | None, config: str | Path | None, options: dict[str, Any]
) -> TrainConfig:
    from gvetool.config.resolution import resolve

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
    from gvetool.config.resolution import resumed
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.engine.trainer import train as run_training

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
        resolved = resolve_options(model, config, options)
    return Run.open(run_training(resolved, resume))


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
    from gvetool.config.resolution import transferred
    from gvetool.engine.checkpoint import load_checkpoint
    from gvetool.engine.trainer import train as run_training

    source = Path(source)
    path = source / "best.pt" if source.is_dir() else source
    saved = load_checkpoint(path)["config"]
    target = {"dataset": dataset, "freeze": freeze, "vocab_mode": vocab, "transfer_from": str(path)}
    return Run.open(run_training(transferred(saved, {**options, **target})))


def runs(out: str | Path = "runs") -> list[Run]:
    """Every run below ``out`` (cv folds and reproduce runs included), newest first."""
    from gvetool.engine.runlist import list_runs

    return [Run.open(summary.path) for summary in list_runs(Path(out))]
