"""Configuration from TOML files: a run's settings, its model options, a ``[launcher]``
table, merged with the values given on the command line or in a Python call."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gvetool.config.relocation import absolute_paths
from gvetool.config.schema import MODEL_OPTIONS, TrainConfig, check_keys
from gvetool.utils.errors import ConfigError
from gvetool.utils.files import reading

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


LAUNCHER = "launcher"  # the [launcher] table of a cv or reproduce config file


def load_toml(path: Path, model_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A config file's keys, checked (one line naming the file for anything wrong); its
    ``[launcher]`` table is not a run's setting and is left to :func:`launcher_table`."""
    data = _read_toml(path)
    if isinstance(data.get(LAUNCHER), dict):
        del data[LAUNCHER]
    nested = [
        k for k, v in data.items() if isinstance(v, dict) and k.replace("-", "_") != MODEL_OPTIONS
    ]
    if nested:
        raise ConfigError(
            f"{path}: the tables are [{MODEL_OPTIONS}] and [{LAUNCHER}], not [{nested[0]}]; "
            "use plain keys"
        )
    return check_keys(data, str(path), model_keys)


def launcher_table(path: Path | None) -> dict[str, Any]:
    """A config file's ``[launcher]`` table (``name`` and the launcher's options, read by
    ``cv`` and ``reproduce``); empty without a file or a table."""
    if path is None:
        return {}
    table = _read_toml(path).get(LAUNCHER, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {LAUNCHER} must be a table, [{LAUNCHER}]")
    return {key.replace("-", "_"): value for key, value in table.items()}


def load_saved(path: Path) -> TrainConfig:
    """The ``config.toml`` a run wrote, of this release or an earlier one."""
    return TrainConfig.from_saved(_read_toml(path))


def _read_toml(path: Path) -> dict[str, Any]:
    with reading(path, "config file", ConfigError), open(path, "rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc})") from None


def merged(
    config_file: Path | None,
    overrides: dict[str, Any],
    source: str = "command line",
    model_keys: frozenset[str] = frozenset(),
) -> TrainConfig:
    """Defaults, then the config file, then the values that were given (``source`` names
    where they came from in errors: the command line, or a Python call's options); paths
    made absolute and every generic key validated. The model's own options are checked
    one layer up, where the plugins are known (:func:`gvetool.config.resolution.resolve`)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_toml(config_file, model_keys))
    given = check_keys({k: v for k, v in overrides.items() if v is not None}, source, model_keys)
    if MODEL_OPTIONS in given and MODEL_OPTIONS in values:  # the file's, some overridden
        given[MODEL_OPTIONS] = {**values[MODEL_OPTIONS], **given[MODEL_OPTIONS]}
    values.update(given)
    config = absolute_paths(TrainConfig(**values))
    config.validate()
    return config
