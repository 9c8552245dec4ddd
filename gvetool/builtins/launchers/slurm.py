"""The ``slurm`` launcher: every job as a SLURM batch job, through submitit.

Each job is submitted once the jobs it needs have finished (the launcher waits on the
cluster's accounting, ``sacct``, as submitit does), with the resources of
:class:`SlurmOptions`; a job with several GPUs trains with DDP, one process per GPU
(``torchrun`` inside the allocation). Its training output goes to the job's own log
(``<directory>/jobs/<name>.log``), submitit's files to ``<directory>/jobs/slurm/``.

Preemption and time limits: SLURM signals the job (``USR2``) before it stops it; the job
then interrupts its training as Ctrl-C does (``last.pt`` is saved) and is requeued by
submitit, up to ``--max-requeues`` times, resuming from ``last.pt``. A job that fails,
runs out of memory or is cancelled is reported with its state and log. Ctrl-C on the
command asks whether to cancel what it submitted (``scancel``; without a terminal to ask,
it cancels); either way every run stays resumable, and rerunning the command trains only
what is missing.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvetool.builtins.launchers.scheduling import start_ready
from gvetool.utils import console
from gvetool.utils.errors import ConfigError, GvetoolError
from gvetool.workflows.jobs import CANCELLED, FAILED, FINISHED, Job, JobOutcome

POLL_SECONDS = 5.0
STOP_GRACE_SECONDS = 60  # how long a preempted job's training may take to save last.pt


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = field(default="", metadata={"help": "partition (default: the cluster's)"})
    gpus_per_job: int = field(
        default=1, metadata={"help": "GPUs per job; more than one trains with DDP"}
    )
    cpus_per_job: int = field(default=8, metadata={"help": "CPU cores per job"})
    mem_gb: int = field(default=0, metadata={"help": "memory per job in GB (0: the default)"})
    time_min: int = field(default=1440, metadata={"help": "time limit per job in minutes"})
    sbatch: str = field(
        default="",
        metadata={"help": "more sbatch flags, e.g. '--qos=high --account=lab'"},
    )
    max_requeues: int = field(
        default=3, metadata={"help": "times a preempted or timed-out job is requeued"}
    )


class SlurmJobRun:
    """What runs inside the allocation: the job's command, interrupted like Ctrl-C and
    requeued (submitit's checkpointing hook) when SLURM preempts it or time runs out."""

    def __init__(self, argv: list[str], log: str) -> None:
        self.argv, self.log = argv, log
        self.process: subprocess.Popen[bytes] | None = None

    def __call__(self) -> str:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_leave_preemption_to_submitit,
            )
            code = self.process.wait()
        if code != 0:
            raise RuntimeError(f"the job exited with status {code}; see {self.log}")
        return self.log

    def checkpoint(self) -> Any:
        """Preempted or out of time: the run saves ``last.pt``; then the job is requeued."""
        import submitit

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return submitit.helpers.DelayedSubmission(SlurmJobRun(self.argv, self.log))

    def __getstate__(self) -> dict[str, Any]:  # the process is not part of what is resubmitted
        return {"argv": self.argv, "log": self.log, "process": None}


def _leave_preemption_to_submitit() -> None:
    """In the training process: SLURM signals every process of the job before preempting
    it; the run must not die of that signal but wait for the interrupt that
    :meth:`SlurmJobRun.checkpoint` sends, so it ignores them (an ignored signal stays
    ignored across ``exec``)."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Slurm:
    def __init__(self, options: SlurmOptions | None = None) -> None:
        self.options = options or SlurmOptions()
        if self.options.gpus_per_job < 0 or self.options.cpus_per_job < 1:
            raise ConfigError("--gpus-per-job must be 0 or more and --cpus-per-job 1 or more")
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise GvetoolError(
                "the slurm launcher needs submitit: pip install submitit (or gvetool[slurm])"
            ) from None
        # Checked here, when the launcher is chosen, before any job file or run folder is
        # written: submitit would find out only at the first submission.
        if any(shutil.which(tool) is None for tool in ("sbatch", "srun")):
            raise GvetoolError(
                "the slurm launcher submits through SLURM's sbatch and srun, which are not "
                "on PATH here; run it on a cluster's login node, or use --launcher local"
            )

    def executor(self, folder: Path) -> Any:
        """A submitit executor with these options; ``sbatch`` flags are passed through."""
        import submitit

        options = self.options
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=options.max_requeues)
        parameters: dict[str, Any] = {
            "time": options.time_min,
            "cpus_per_task": options.cpus_per_job,
            "ntasks_per_node": 1,  # torchrun starts the processes of a multi-GPU job
            "stderr_to_stdout": True,
            "signal_delay_s": STOP_GRACE_SECONDS + 30,
        }
        if options.partition:
            parameters["partition"] = options.partition
        if options.gpus_per_job:
            parameters["gpus_per_node"] = options.gpus_per_job
        if options.mem_gb:
            parameters["mem"] = f"{options.mem_gb}GB"
        extra = _sbatch_flags(options.sbatch)
        if extra:
            parameters["additional_parameters"] = extra
        executor.update_parameters(**parameters)
        return executor

    def argv(self, job: Job) -> list[str]:
        """The job's command; with several GPUs, under ``torchrun`` (one process per GPU)."""
        command = job.argv()
        if self.options.gpus_per_job <= 1:
            return command
        python, *rest = command
        return [
            python,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={self.options.gpus_per_job}",
            *rest,
        ]

    def launch(self, jobs: Sequence[Job]) -> list[JobOutcome]:
        outcomes: dict[str, JobOutcome] = {}
        waiting, submitted = list(jobs), []
        try:
            while waiting or submitted:
                submitted[:] = self._collect(submitted, outcomes)
                start_ready(
                    waiting,
                    outcomes,
                    lambda: True,
                    lambda job: submitted.append((job, self._submit(job))),
                )
                if waiting or submitted:
                    time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            self._interrupted(submitted, outcomes)
            raise
        return [outcomes[job.name] for job in jobs]

    def _submit(self, job: Job) -> Any:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        executor = self.executor(job.log.parent / "slurm")
        executor.update_parameters(job_name=f"gvetool-{job.name.replace('/', '-')}")
        submitted = executor.submit(SlurmJobRun(self.argv(job), str(job.log)))
        console.err().print(
            f"{job.name}: submitted as SLURM job {submitted.job_id} (log {job.log})",
            highlight=False,
        )
        return submitted

    def _collect(
        self, submitted: list[tuple[Job, Any]], outcomes: dict[str, JobOutcome]
    ) -> list[tuple[Job, Any]]:
        still = []
        for job, slurm_job in submitted:
            if not slurm_job.done():
                still.append((job, slurm_job))
                continue
            outcome = _outcome(job, slurm_job)
            outcomes[job.name] = outcome
            if outcome.ok:
                console.err().print(
                    f"{job.name}: finished (SLURM job {slurm_job.job_id})", highlight=False
                )
            else:
                console.error(f"{job.name}: {outcome.status} ({outcome.detail}); see {job.log}")
        return still

    def _interrupted(
        self, submitted: list[tuple[Job, Any]], outcomes: dict[str, JobOutcome]
    ) -> None:
        """Ctrl-C: cancel what was submitted if the user says so (the runs stay resumable)."""
        running = [(job, slurm_job) for job, slurm_job in submitted if not slurm_job.done()]
        if not running:
            return
        ids = " ".join(str(slurm_job.job_id) for _, slurm_job in running)
        question = f"cancel the {len(running)} submitted SLURM job(s) ({ids})? [y/N] "
        cancel = _ask(question) if sys.stdin.isatty() else True  # no one to ask: cancel
        for job, slurm_job in running:
            if cancel:
                slurm_job.cancel(check=False)
            detail = "cancelled" if cancel else "left running"
            outcomes[job.name] = JobOutcome(job.name, CANCELLED, detail, job.log)
        if not cancel:
            console.warn(f"the SLURM jobs {ids} go on; rerun the command later to collect them")


def _outcome(job: Job, slurm_job: Any) -> JobOutcome:
    """A done SLURM job's outcome: its result file says whether the command succeeded;
    without one, SLURM stopped it (out of memory, time limit, node failure, scancel)."""
    state = slurm_job.state
    if _has_result(slurm_job) or state == "COMPLETED":  # a shared file system may lag
        try:
            error = slurm_job.exception()  # waits a little for the result file
        except Exception as exc:  # submitit's UncompletedJobError: no result file at all
            error = exc
        if error is None:
            return JobOutcome(job.name, FINISHED, log=job.log)
        lines = [line for line in str(error).splitlines() if line.strip()] or [repr(error)]
        return JobOutcome(job.name, FAILED, f"SLURM job {slurm_job.job_id}: {lines[-1]}", job.log)
    status = CANCELLED if state.startswith("CANCELLED") else FAILED
    return JobOutcome(job.name, status, f"SLURM job {slurm_job.job_id} {state}", job.log)


def _has_result(slurm_job: Any) -> bool:
    return Path(slurm_job.paths.result_pickle).exists()


def _ask(question: str) -> bool:
    try:
        return input(question).strip().lower() in {"y", "yes"}
    except (EOFError, KeyboardInterrupt):
        return False


def _sbatch_flags(text: str) -> dict[str, Any]:
    """``"--qos=high --exclusive"`` -> ``{"qos": "high", "exclusive": True}``."""
    flags: dict[str, Any] = {}
    for word in shlex.split(text):
        if not word.startswith("--") or len(word) < 3:
            raise ConfigError(f"--sbatch {text!r}: write long sbatch flags, e.g. --qos=high")
        key, sep, value = word[2:].partition("=")
        flags[key] = value if sep else True
    return flags
