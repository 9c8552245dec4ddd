"""The ``local`` launcher: jobs as parallel processes on this machine.

``--jobs N`` processes at a time, each started as soon as the jobs it needs have finished.
With ``--gpus 0,1`` (or a ``CUDA_VISIBLE_DEVICES`` of several GPUs) each process sees one
GPU of its own; without GPUs, each gets an equal share of the CPU cores (``OMP_NUM_THREADS``),
so that N jobs do not fight over every core. A job's output goes to its log, beside its
instructions (``<directory>/jobs/<name>.log``); a line on the terminal says when each
starts and ends. A job that exits non-zero is failed, the others go on; Ctrl-C stops every
running job the way Ctrl-C stops ``gvetool train`` (each saves ``last.pt``: rerun to
resume) and then stops the command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gvetool.builtins.launchers.scheduling import start_ready
from gvetool.utils import console
from gvetool.utils.errors import ConfigError
from gvetool.workflows.jobs import CANCELLED, FAILED, FINISHED, Job, JobOutcome

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 60.0  # after Ctrl-C, how long a job may take to save its checkpoint


@dataclass(frozen=True)
class LocalOptions:
    jobs: int = field(
        default=0,
        metadata={"help": "jobs running at a time (0: one per GPU of --gpus, else 1)"},
    )
    gpus: str = field(
        default="",
        metadata={
            "help": "GPUs to share out, comma-separated (default: CUDA_VISIBLE_DEVICES); "
            "each job sees one"
        },
    )


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen[bytes]
    slot: int
    started: float


class Local:
    def __init__(self, options: LocalOptions | None = None) -> None:
        options = options or LocalOptions()
        if options.jobs < 0:
            raise ConfigError(f"--jobs must be 0 or more, not {options.jobs}")
        listed = options.gpus or os.environ.get("CUDA_VISIBLE_DEVICES", "")
        self.gpus = [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
        self.slots = options.jobs or max(1, len(self.gpus))
        if self.gpus and self.slots > len(self.gpus):
            raise ConfigError(
                f"--jobs {self.slots} with {len(self.gpus)} GPU(s) ({','.join(self.gpus)}): "
                "give each job a GPU of its own, or fewer jobs"
            )

    def launch(self, jobs: Sequence[Job]) -> list[JobOutcome]:
        outcomes: dict[str, JobOutcome] = {}
        waiting, running = list(jobs), []

        def start(job: Job) -> None:
            running.append(self._start(job, self._free_slot(running)))

        try:
            while waiting or running:
                running[:] = self._reap(running, outcomes)
                start_ready(waiting, outcomes, lambda: len(running) < self.slots, start)
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            self._stop(running, outcomes)
            raise
        return [outcomes[job.name] for job in jobs]

    def _free_slot(self, running: list[_Running]) -> int:
        taken = {r.slot for r in running}
        return next(slot for slot in range(self.slots) if slot not in taken)

    def _start(self, job: Job, slot: int) -> _Running:
        environment = dict(os.environ)
        if self.gpus:
            environment["CUDA_VISIBLE_DEVICES"] = self.gpus[slot]
        else:
            share = max(1, (os.cpu_count() or 1) // self.slots)
            environment["OMP_NUM_THREADS"] = str(share)
        job.log.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log, "ab") as log:  # appended: a rerun keeps the earlier attempts
            # a session of its own: a Ctrl-C at the terminal reaches the launcher alone,
            # which passes one interrupt on (two would cut a checkpoint's saving short)
            process = subprocess.Popen(
                job.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,
            )
        threads = environment.get("OMP_NUM_THREADS")
        where = f"GPU {self.gpus[slot]}" if self.gpus else f"{threads} threads"
        console.err().print(
            f"{job.name}: started ({where}, pid {process.pid}; log {job.log})", highlight=False
        )
        return _Running(job, process, slot, time.monotonic())

    def _reap(self, running: list[_Running], outcomes: dict[str, JobOutcome]) -> list[_Running]:
        still = []
        for entry in running:
            code = entry.process.poll()
            if code is None:
                still.append(entry)
                continue
            job, seconds = entry.job, time.monotonic() - entry.started
            if code == 0:
                outcomes[job.name] = JobOutcome(job.name, FINISHED, log=job.log)
                console.err().print(f"{job.name}: finished in {seconds:.0f} s", highlight=False)
            else:
                detail = _exit_detail(code)
                outcomes[job.name] = JobOutcome(job.name, FAILED, detail, job.log)
                console.error(f"{job.name}: failed ({detail}); see {job.log}")
        return still

    def _stop(self, running: list[_Running], outcomes: dict[str, JobOutcome]) -> None:
        """Ctrl-C: every running job is interrupted as Ctrl-C interrupts a run (it saves
        its checkpoint), given time to do so, and killed only after that."""
        for entry in running:
            if entry.process.poll() is None:
                entry.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for entry in running:
            try:
                entry.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                entry.process.kill()
                entry.process.wait()
            outcomes[entry.job.name] = JobOutcome(
                entry.job.name, CANCELLED, "interrupted", entry.job.log
            )
            console.err().print(f"{entry.job.name}: stopped; rerun to resume", highlight=False)


def _exit_detail(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exit status {code}"
