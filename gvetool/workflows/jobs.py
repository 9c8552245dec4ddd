"""Training jobs that a launcher runs: what each one is, the file a worker reads, outcomes.

A command that trains several independent runs (``cv``'s folds, ``reproduce``'s models,
seed repeats) describes each as a :class:`Job`: a run's configuration, the earlier jobs
whose ``best.pt`` it needs (a fold's or the table's sentence classifier, the previous fold
under ``--same-model``) and its instructions file, ``<directory>/jobs/<name>.json``,
beside which its log is written. A launcher plugin (:mod:`gvetool.builtins.launchers`) runs the
jobs in order of their dependencies: in this process (:meth:`Job.run_here`) or anywhere
gvetool is installed, through the command :meth:`Job.argv` (``python -m gvetool.workflows.jobs
FILE``). Either way the run is trained into its own folder as it would be by hand, and a
rerun finds it there: finished, it is skipped; interrupted, it is resumed from ``last.pt``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvetool.config.schema import TrainConfig
from gvetool.utils.errors import INTERRUPTED_EXIT, GvetoolError
from gvetool.utils.files import read_json, write_json

FINISHED, FAILED, NOT_RUN, CANCELLED = "finished", "failed", "not run", "cancelled"


@dataclass(frozen=True)
class Job:
    """One run to train (or resume), after the jobs it needs.

    ``inputs`` maps a config key to the name of an earlier job whose ``best.pt`` fills it
    when this job starts (``{"sc_ckpt": "seed0/sc"}``); ``after`` names the jobs of the
    same launch that must finish first: by default those of ``inputs``. (A launch leaves
    out the jobs that already finished, and their names from ``after``.)
    """

    name: str
    label: str
    config: TrainConfig
    directory: Path
    inputs: dict[str, str] = field(default_factory=dict)
    after: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.after is None:
            object.__setattr__(self, "after", tuple(self.inputs.values()))

    @property
    def file(self) -> Path:
        """The instructions a worker reads (written by :func:`write_jobs`)."""
        return self.directory / "jobs" / f"{self.name.replace('/', '-')}.json"

    @property
    def log(self) -> Path:
        """Where a launcher that runs the job in another process sends its output."""
        return self.file.with_suffix(".log")

    def argv(self) -> list[str]:
        """The command that runs this job: any machine with gvetool and the data will do."""
        return [sys.executable, "-m", "gvetool.workflows.jobs", str(self.file)]

    def run_here(self) -> Path:
        """Train (or resume, or find finished) the run in this process; its folder."""
        return run_job_file(self.file)

    def run_dir(self) -> Path | None:
        """The job's finished run, if there is one."""
        from gvetool.engine.resumable import finished_run

        return finished_run(Path(self.config.out), self.config.model, self.config.epochs)


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: ``finished``, ``failed``, ``not run`` (a job it needs failed or was
    cancelled) or ``cancelled``; ``detail`` says why, ``log`` where its output went."""

    name: str
    status: str
    detail: str = ""
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == FINISHED


def write_jobs(jobs: Sequence[Job]) -> None:
    """Every job's instructions file, checked for names that are unique and dependencies
    that come first (so that any launcher can run them in the order given)."""
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.name in seen:
            raise ValueError(f"two jobs are called {job.name!r}")
        missing = [name for name in (*job.after, *job.inputs.values()) if name not in seen]
        if missing:
            raise ValueError(f"job {job.name!r} needs {missing[0]!r}, which does not come first")
        seen[job.name] = job
        inputs = {key: _instructions_of(seen[name]) for key, name in job.inputs.items()}
        write_json(
            job.file,
            {
                "name": job.name,
                "label": job.label,
                "config": dataclasses.asdict(job.config),
                "inputs": inputs,
            },
            indent=2,
        )


def _instructions_of(job: Job) -> dict[str, Any]:
    return {
        "job": job.name,
        "out": job.config.out,
        "model": job.config.model,
        "epochs": job.config.epochs,
    }


def run_job_file(path: Path) -> Path:
    """Run the job described in ``path``: its inputs found, its run trained or resumed."""
    from gvetool.engine.resumable import finished_run, train_or_resume

    instructions = read_json(path)
    config = TrainConfig.from_saved(instructions["config"])
    filled = {}
    for key, source in instructions["inputs"].items():
        run = finished_run(Path(source["out"]), source["model"], source["epochs"])
        if run is None:
            raise GvetoolError(
                f"job {instructions['name']} needs the finished {source['model']} run of job "
                f"{source['job']} in {source['out']}, and there is none; run that job first"
            )
        filled[key] = str(run / "best.pt")
    return train_or_resume(dataclasses.replace(config, **filled), instructions["label"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gvetool.workflows.jobs FILE``: run one job; the exit status says how it went.

    A user error is one line on stderr (exit 1), an interrupt exits 130 with the run
    resumable, anything else prints its traceback into the job's log (exit 1).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m gvetool.workflows.jobs JOB_FILE\n")
        return 2
    try:
        run = run_job_file(Path(args[0]))
    except GvetoolError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; rerun the command to resume\n")
        return INTERRUPTED_EXIT
    except Exception:
        traceback.print_exc()
        return 1
    sys.stdout.write(f"run: {run}\n")
    return 0


if __name__ == "__main__":
    code = main()
    if code == INTERRUPTED_EXIT:  # as the console script does (gvetool.__main__): exit 130,
        sys.stdout.flush()  # not a death by SIGINT that CPython may add at exit
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
