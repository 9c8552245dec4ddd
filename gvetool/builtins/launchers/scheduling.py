"""What every launcher decides the same way: whether a job can run, given the others."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gvetool.workflows.jobs import CANCELLED, FAILED, NOT_RUN, Job, JobOutcome

_ENDED = {FAILED: "failed", NOT_RUN: "was not run", CANCELLED: "was cancelled"}


def blocked_by(job: Job, outcomes: Mapping[str, JobOutcome]) -> JobOutcome | None:
    """``not run`` if a job that ``job`` needs ended without finishing, else ``None``."""
    for name in job.after:
        needed = outcomes.get(name)
        if needed is not None and not needed.ok:
            return JobOutcome(job.name, NOT_RUN, f"needs {name}, which {_ENDED[needed.status]}")
    return None


def ready(job: Job, outcomes: Mapping[str, JobOutcome]) -> bool:
    """Whether every job that ``job`` needs has finished."""
    return all(name in outcomes and outcomes[name].ok for name in job.after)


def start_ready(
    waiting: list[Job],
    outcomes: dict[str, JobOutcome],
    room: Callable[[], bool],
    start: Callable[[Job], None],
) -> None:
    """One pass over the ``waiting`` jobs: start each whose needs have finished while
    ``room()`` says there is room, mark ``not run`` each whose needs did not finish."""
    from gvetool.utils import console

    for job in list(waiting):
        blocked = blocked_by(job, outcomes)
        if blocked is not None:
            outcomes[job.name] = blocked
            waiting.remove(job)
            console.err().print(f"{job.name}: not run ({blocked.detail})", highlight=False)
        elif ready(job, outcomes) and room():
            start(job)
            waiting.remove(job)
