"""The ``sequential`` launcher: every job in this process, one after another.

What ``cv`` and ``reproduce`` always did, with progress bars and the runs' own output on
the terminal; a job that fails is reported and the jobs that do not need it still run.
"""

from __future__ import annotations

from collections.abc import Sequence

from gvetool.builtins.launchers.scheduling import blocked_by
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.workflows.jobs import FAILED, FINISHED, Job, JobOutcome


class Sequential:
    def launch(self, jobs: Sequence[Job]) -> list[JobOutcome]:
        outcomes: dict[str, JobOutcome] = {}
        for job in jobs:
            blocked = blocked_by(job, outcomes)
            if blocked is not None:
                outcomes[job.name] = blocked
                continue
            try:
                job.run_here()
            except GvetoolError as exc:
                console.error(f"{job.name}: {exc}")
                outcomes[job.name] = JobOutcome(job.name, FAILED, str(exc))
            else:
                outcomes[job.name] = JobOutcome(job.name, FINISHED)
        return [outcomes[job.name] for job in jobs]
