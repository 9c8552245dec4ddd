"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, nccl on GPU).

Every process sees the same global batch order and takes its slice ``[rank::world]``; the
gradients are averaged by DistributedDataParallel. With equal slices and token losses
divided by the global batch's token count (``CaptionBatch.ce_tokens``), N processes
compute the same update as one process with the global batch.
Only rank 0 validates and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from gvetool.utils.errors import GvetoolError


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        """Read the variables ``torchrun`` sets; a plain run is rank 0 of 1."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        checked = checked_device(requested)
        if checked.type == "cuda" and self.world > 1:
            return torch.device(f"cuda:{self.local_rank}")
        return checked

    def start(self, device: torch.device, timeout_min: float = 180.0) -> None:
        """Join the process group (under torchrun). ``timeout_min`` bounds every wait for
        the other processes: long enough for rank 0 to build a COCO-size feature store
        while the others wait at a barrier, which NCCL's 10-minute default is not. The
        current CUDA device is the run's in every case, so that whatever is made on "the
        current device" (a graph's capture stream) is made on it."""
        if device.type == "cuda" and device.index is not None:  # "cuda" alone: already so
            torch.cuda.set_device(device)
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=timedelta(minutes=timeout_min))

    def stop(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def from_main(self, value: Any) -> Any:
        """``value`` as rank 0 has it (e.g. the run directory it created)."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def checked_device(requested: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a device, refused in one line when this machine
    has no such device."""
    kind, _, index = requested.partition(":")
    if kind not in ("cpu", "cuda") or (index and not (kind == "cuda" and index.isdigit())):
        raise GvetoolError(f"--device must be cpu, cuda or cuda:N, got {requested!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise GvetoolError(f"--device {requested} was asked for, but no CUDA GPU is available")
        if index and int(index) >= torch.cuda.device_count():
            raise GvetoolError(
                f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
    return torch.device(requested)
