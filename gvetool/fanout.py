"""Running a command's jobs through the chosen launcher, and saying which did not finish.

``cv`` and ``reproduce`` describe their runs as :class:`gvetool.jobs.Job` and hand them to
:func:`run_jobs`; the launcher plugin named by ``--launcher`` (or a ``[launcher]`` TOML
table's ``name``) runs them. The commands then collect what finished into their tables,
mark the rest, and end with :func:`unfinished_error` when some job did not finish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from gvetool.errors import GvetoolError
from gvetool.jobs import Job, JobOutcome, write_jobs
from gvetool.model_options import resolve_options
from gvetool.plugins import get_plugins

DEFAULT_LAUNCHER = "sequential"


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
    """Write the jobs' instructions and have ``launcher`` run them; outcomes by job name."""
    write_jobs(jobs)
    outcomes = list(launcher.launch(jobs))
    names = [outcome.name for outcome in outcomes]
    if names != [job.name for job in jobs]:
        raise RuntimeError(f"the launcher reported {names}, not one outcome per job in order")
    return {outcome.name: outcome for outcome in outcomes}


def unfinished_error(outcomes: Mapping[str, JobOutcome]) -> GvetoolError | None:
    """One line naming every job that did not finish and why, or ``None``."""
    unfinished = [o for o in outcomes.values() if not o.ok]
    if not unfinished:
        return None
    described = "; ".join(
        f"{o.name} {o.status}" + (f" ({o.detail})" if o.detail else "")
        + (f", log {o.log}" if o.log else "")
        for o in unfinished
    )  # fmt: skip
    return GvetoolError(
        f"{len(unfinished)} of {len(outcomes)} jobs did not finish: {described}. The others "
        "are kept; rerun the same command to train only what is missing"
    )
