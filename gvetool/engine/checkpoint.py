"""Checkpoints: one self-contained ``torch.save`` dict, loadable with ``weights_only=True``.

A checkpoint alone is enough to evaluate, transfer or resume: it carries the format
version, the model name and task, the resolved config, the vocabulary, the class names,
the weights, the optimizer state, the position in training (epoch and step), the RNG
state and the metrics so far. It holds only tensors and plain Python values, so loading
it never runs code from the file.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gvetool.utils import console
from gvetool.utils.errors import CheckpointError, GvetoolError
from gvetool.utils.files import atomic_write

if TYPE_CHECKING:
    from gvetool.kernel.tasks import Task

# Version 2: the models follow the original's parameters (two LSTM biases, the image
# projected to the hidden size); version-1 weights do not fit them and must be retrained.
FORMAT = "gvetool-checkpoint/2"


# What evaluation, transfer and resume read from every checkpoint.
REQUIRED = (
    "model",
    "task",
    "config",
    "vocabulary",
    "class_names",
    "feature_dim",
    "state_dict",
    "optimizer",
    "epoch",
    "step",
    "global_step",
    "rng",
    "metrics",
)


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6 is a zip archive


def _check_entries(path: Path) -> None:
    """torch.save stores every entry uncompressed, so a checkpoint never holds more than
    its size; one with compressed entries was crafted to expand when loaded."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # torch.load says what is wrong with it
    packed = [e.filename for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if packed or sum(e.file_size for e in entries) > size:
        raise CheckpointError(
            f"{path} was refused unread: its entries expand beyond its {size} bytes "
            f"(compressed: {', '.join(packed[:3]) or 'none'}), which torch.save never "
            "writes; it is damaged or crafted"
        )


def _refused_content(error: Exception) -> str:
    """What ``weights_only`` refused, in torch's words without its advice to load the file
    unsafely (which gvetool never suggests)."""
    for line in str(error).splitlines():
        if "GLOBAL" in line or "Unsupported operand" in line:
            return f"objects other than tensors and plain values ({line.strip().rstrip('.')})"
    return "objects other than tensors and plain values"


def rng_states() -> dict[str, Any]:
    """Every random generator a run draws from: the CPU's, and each CUDA device's where
    CUDA is in use (dropout and sampling on a GPU draw from those; a CPU run never starts
    CUDA to read them)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = list(torch.cuda.get_rng_state_all())
    return states


def restore_rng_states(saved: dict[str, Any], device: str) -> None:
    """Give a resumed run the generators it had, CUDA's too when it resumes on CUDA with
    the same number of devices (else they start from the seed, and a warning says so)."""
    torch.set_rng_state(saved["torch"])
    cuda = saved.get("cuda")
    if not cuda or not str(device).startswith("cuda"):
        return
    if len(cuda) != torch.cuda.device_count():
        console.warn(
            f"the run saved {len(cuda)} CUDA generators and this machine has "
            f"{torch.cuda.device_count()} devices; they start from the seed, so the resumed "
            "run's dropout and samples differ from an uninterrupted one"
        )
        return
    torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write atomically: a crash or a full disk leaves the previous file intact."""
    with atomic_write(path) as handle:
        torch.save({"format": FORMAT, **checkpoint}, handle)


def load_checkpoint(
    path: Path, expect_model: str | None = None, expect_task: Task | None = None
) -> dict[str, Any]:
    """Load and check a checkpoint (of model ``expect_model`` / of a model of task
    ``expect_task`` where given); anything else is one clear line."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    if magic != ZIP_MAGIC:
        raise CheckpointError(
            f"{path} is not a checkpoint (not a file torch.save writes); give a run's "
            "best.pt or last.pt, or its folder"
        )
    _check_entries(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # refused before anything in it could run
        raise CheckpointError(
            f"{path} was refused unread: it holds {_refused_content(exc)}, which a gvetool "
            "checkpoint never contains"
        ) from None
    except Exception as exc:  # whatever else torch.load trips over: damaged
        first = str(exc).strip().split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a readable gvetool checkpoint (truncated or corrupt: {first})"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        found = (
            checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        )
        hint = (
            "; it was written by gvetool 0.1, whose models differ from the original's: "
            "train it again"
            if found == "gvetool-checkpoint/1"
            else ""
        )
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint (found {found!r}){hint}")
    missing = [key for key in REQUIRED if key not in checkpoint]
    if missing or not isinstance(checkpoint.get("config"), dict):
        raise CheckpointError(
            f"{path} is a damaged {FORMAT} checkpoint (it lacks {', '.join(missing) or 'config'}); "
            "use another checkpoint of the run (best.pt / last.pt) or train again"
        )
    from gvetool.config.schema import MOVED_TO_MODEL_OPTIONS, TrainConfig, check_keys

    check_keys(checkpoint["config"], f"{path} (its config)", frozenset(MOVED_TO_MODEL_OPTIONS))
    try:
        TrainConfig.from_saved(checkpoint["config"]).validate()
    except GvetoolError as exc:
        raise CheckpointError(
            f"{path} is a damaged checkpoint: its config is impossible ({exc})"
        ) from None
    _check_shapes(path, checkpoint)
    if expect_model is not None and checkpoint.get("model") != expect_model:
        raise CheckpointError(
            f"{path} is a '{checkpoint.get('model')}' checkpoint, but a '{expect_model}' "
            "checkpoint is needed here"
        )
    if expect_task is not None:
        from gvetool.kernel.manager import get_plugins

        if get_plugins().models.get(checkpoint["model"]).task is not expect_task:
            raise CheckpointError(
                f"{path} is a '{checkpoint['model']}' checkpoint, but a {expect_task.name} "
                "model's checkpoint is needed here"
            )
    return checkpoint


def _check_shapes(path: Path, checkpoint: dict[str, Any]) -> None:
    """The fields every reader indexes into have the types they are read as."""
    wrong = None
    if not _strings(checkpoint["vocabulary"]):
        wrong = "vocabulary (a list of words)"
    elif checkpoint["class_names"] is not None and not _strings(checkpoint["class_names"]):
        wrong = "class_names (a list of names)"
    elif not isinstance(checkpoint["feature_dim"], int) or checkpoint["feature_dim"] < 1:
        wrong = "feature_dim (a positive integer)"
    elif not isinstance(checkpoint["state_dict"], dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor)
        for k, v in checkpoint["state_dict"].items()
    ):
        wrong = "state_dict (tensors by name)"
    elif not all(isinstance(checkpoint[k], int) for k in ("epoch", "step", "global_step")):
        wrong = "epoch, step and global_step (integers)"
    elif not isinstance(checkpoint["metrics"], list):
        wrong = "metrics (a list of epochs)"
    if wrong:
        raise CheckpointError(
            f"{path} is a damaged checkpoint: its {wrong} is not what gvetool writes; use "
            "another checkpoint of the run (best.pt / last.pt) or train again"
        )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def model_from_checkpoint(checkpoint: dict[str, Any]) -> torch.nn.Module:
    """Rebuild the checkpoint's model through the plugin registry, weights loaded, eval mode."""
    from gvetool.config.schema import TrainConfig
    from gvetool.kernel.manager import get_plugins

    spec = get_plugins().models.get(checkpoint["model"])
    model = spec.build(
        TrainConfig.from_saved(checkpoint["config"]),
        len(checkpoint["vocabulary"]),
        checkpoint["feature_dim"],
        len(checkpoint["class_names"] or []),
    )
    bad = [k for k, v in checkpoint["state_dict"].items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"the checkpoint's weights are not finite ({bad[0]} has NaN or infinite values); "
            "it cannot describe anything — use an earlier checkpoint or train again"
        )
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"the weights in the checkpoint do not fit model '{checkpoint['model']}' ({first})"
        ) from None
    return model.eval()
