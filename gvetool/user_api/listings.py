"""What is installed: the names each kind of plugin registers, built-ins included."""

from __future__ import annotations


def _names(kind: str) -> list[str]:
    from gvetool.kernel.manager import get_plugins

    return getattr(get_plugins(), kind).names()


def list_models() -> list[str]:
    """Names of every model an installed plugin registers (built-ins included)."""
    return _names("models")


def list_datasets() -> list[str]:
    """Names of every dataset an installed plugin registers."""
    return _names("datasets")


def list_encoders() -> list[str]:
    """Names of every image encoder (family) an installed plugin registers."""
    return _names("encoders")


def list_metrics() -> list[str]:
    """Names of every metric an installed plugin registers (``evaluate(metrics=...)``,
    ``val_metrics``)."""
    return _names("metrics")


def list_trackers() -> list[str]:
    """Names of every experiment tracker an installed plugin registers (``tracker=``)."""
    return _names("trackers")


def list_launchers() -> list[str]:
    """Names of every job launcher an installed plugin registers (``launcher=`` of
    :func:`cross_validate` and :func:`reproduce`)."""
    return _names("launchers")
