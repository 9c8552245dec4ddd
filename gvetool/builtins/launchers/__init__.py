"""Built-in launchers: ``sequential`` (this process, one job after another; the default),
``local`` (parallel processes on this machine, one GPU or a share of the CPU each) and
``slurm`` (batch jobs on a SLURM cluster, through submitit).

This module is what the ``launchers`` entry point names; a cluster or cloud launcher
registers through the same hook (:func:`gvetool.kernel.hookspecs.gvetool_register_launchers`).
"""

from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.specs import LauncherSpec

DEFAULT = "sequential"


@hookimpl
def gvetool_register_launchers(register):
    register(
        LauncherSpec(
            name="sequential",
            description="one job after another in this process, with progress bars (the default)",
            target="gvetool.builtins.launchers.sequential:Sequential",
        )
    )
    register(
        LauncherSpec(
            name="local",
            description="parallel processes on this machine: --jobs at a time, each with "
            "one of --gpus or an equal share of the CPU cores; logs in <out>/.../jobs/",
            target="gvetool.builtins.launchers.local:Local",
            options=_options("local", "LocalOptions"),
        )
    )
    register(
        LauncherSpec(
            name="slurm",
            description="batch jobs on a SLURM cluster through submitit (pip install "
            "gvetool[slurm]): resources per job, preempted jobs requeued and resumed",
            target="gvetool.builtins.launchers.slurm:Slurm",
            options=_options("slurm", "SlurmOptions"),
        )
    )


def _options(module: str, name: str) -> type:
    # each options dataclass lives with its launcher; those modules import nothing heavy
    # (submitit only when jobs are submitted), so registering them here costs nothing
    import importlib

    return getattr(importlib.import_module(f"gvetool.builtins.launchers.{module}"), name)
