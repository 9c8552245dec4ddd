"""Built-in experiment trackers: the run's own ``metrics.jsonl`` and ``train.log``, and
TensorBoard event files where TensorBoard is installed.

This module is what the ``trackers`` entry point names; a third-party tracker (MLflow,
Weights & Biases, Aim) registers through the same hook.
"""

from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.specs import TrackerSpec

FILES = "gvetool.builtins.trackers.files"


@hookimpl
def gvetool_register_trackers(register):
    register(
        TrackerSpec(
            name="jsonl",
            description="metrics.jsonl and train.log in the run directory (always on: resume, "
            "gvetool runs and the report read them)",
            target=f"{FILES}:JsonLines",
            always=True,
        )
    )
    register(
        TrackerSpec(
            name="tensorboard",
            description="TensorBoard event files in <run>/tensorboard (on by default where "
            "TensorBoard is installed)",
            target=f"{FILES}:TensorBoard",
            default=True,
        )
    )
