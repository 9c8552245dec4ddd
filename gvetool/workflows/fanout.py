"""Running a command's jobs through the chosen launcher, and saying which did not finish.

``cv`` and ``reproduce`` describe their runs as :class:`gvetool.workflows.jobs.Job` and hand them to
:func:`run_jobs`; the launcher plugin named by ``--launcher`` (or a ``[launcher]`` TOML
table's ``name``) runs them. The commands then collect what finished into their tables,
mark the rest, and end with :func:`unfinished_error` when some job did not finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from gvetool.kernel.manager import get_plugins
from gvetool.kernel.options import resolve_options
from gvetool.utils import console
from gvetool.utils.errors import GvetoolError
from gvetool.workflows.jobs import FINISHED, Job, JobOutcome, write_jobs

DEFAULT_LAUNCHER = "sequential"


def seeds_named(seed: int, seeds: Sequence[int] | None = None) -> str:
    """The end of a command's folder name: ``seed0``, or over several seeds ``seeds0-1-2``."""
    return f"seeds{'-'.join(map(str, seeds))}" if seeds else f"seed{seed}"


def launcher_named(name: str | None, options: Mapping[str, Any] | None = None) -> Any:
    """The launcher plugin ``name`` (default: sequential) built with ``options`` (checked
    against the options it declares; an option of another launcher is an error naming it)."""
    chosen = name or DEFAULT_LAUNCHER
    registry = get_plugins().launchers
    spec = registry.get(chosen)
    given = dict(options or {})
    for key in given:
        if spec.options is None or key not in {f.name for f in fields(spec.options)}:
            owners = [other for other in registry.names() if _declares(other, key)]
            if owners and chosen not in owners:
                flag = "--" + key.replace("_", "-")
                raise GvetoolError(
                    f"{flag} is an option of the {' and '.join(owners)} launcher, not of "
                    f"'{chosen}'; add --launcher {owners[0]} or leave it out"
                )
    resolved = resolve_options(f"launcher '{chosen}'", spec.options, given)
    factory = spec.load()
    return factory(spec.options(**resolved)) if spec.options is not None else factory()


def _declares(launcher: str, key: str) -> bool:
    options = get_plugins().launchers.get(launcher).options
    return options is not None and key in {f.name for f in fields(options)}


def run_jobs(jobs: Sequence[Job], launcher: Any) -> dict[str, JobOutcome]:
    """Write the jobs' instructions and have ``launcher`` run those whose run has not
    finished yet (a rerun starts no process and submits nothing for a finished run);
    outcomes by job name, in the jobs' order."""
    write_jobs(jobs)
    outcomes: dict[str, JobOutcome] = {}
    for job in jobs:
        run = job.run_dir()
        if run is not None:
            outcomes[job.name] = JobOutcome(job.name, FINISHED, "already trained", job.log)
            console.err().print(f"{job.name}: already trained: {run}", highlight=False)
    todo = [
        dataclasses.replace(job, after=tuple(n for n in job.after if n not in outcomes))
        for job in jobs
        if job.name not in outcomes
    ]
    launched = list(launcher.launch(todo)) if todo else []
    names = [outcome.name for outcome in launched]
    if names != [job.name for job in todo]:
        raise RuntimeError(f"the launcher reported {names}, not one outcome per job in order")
    outcomes.update((outcome.name, outcome) for outcome in launched)
    return {job.name: outcomes[job.name] for job in jobs}


def unfinished_error(outcomes: Mapping[str, JobOutcome]) -> GvetoolError | None:
    """One line naming every job that did not finish and why, or ``None``."""
    unfinished = [o for o in outcomes.values() if not o.ok]
    if not unfinished:
        return None
    described = "; ".join(
        f"{o.name} {o.status}"
        + (f" ({o.detail})" if o.detail else "")
        + (f", log {o.log}" if o.log else "")
        for o in unfinished
    )
    return GvetoolError(
        f"{len(unfinished)} of {len(outcomes)} jobs did not finish: {described}. The others "
        "are kept; rerun the same command to train only what is missing"
    )
