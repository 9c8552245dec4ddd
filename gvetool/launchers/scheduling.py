"""What every launcher decides the same way: whether a job can run, given the others."""

from __future__ import annotations

from collections.abc import Mapping

from gvetool.jobs import CANCELLED, FAILED, NOT_RUN, Job, JobOutcome

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
