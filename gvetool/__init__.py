"""gvetool: train and evaluate image describers (LRCN) and visual explainers (GVE).

Importing the package stays cheap (no torch): the CLI must start fast, and plugin
packages import :data:`hookimpl` and the spec classes from here.
"""

from gvetool.hookspecs import hookimpl
from gvetool.specs import DatasetSpec, EncoderSpec, ModelSpec

__version__ = "0.2.0"

__all__ = ["DatasetSpec", "EncoderSpec", "ModelSpec", "__version__", "hookimpl"]
