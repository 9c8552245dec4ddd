"""The plugin contract: discovery, clashes, broken plugins, disabling, lookups."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gvetool.kernel.manager import load_plugins
from gvetool.kernel.specs import DatasetSpec, ModelSpec
from gvetool.utils.errors import GvetoolError

TOY = """
from gvetool.plugin_api import DatasetSpec, hookimpl

def build(**options):
    return "toy corpus"

@hookimpl
def gvetool_register_datasets(register):
    register(DatasetSpec(name="toy", description="a toy dataset", target=build))
"""


def test_plugin_from_a_distribution_registers_its_dataset(fake_dist):
    fake_dist("gvetool-toy", "toy_plugin", TOY)
    plugins = load_plugins()
    spec = plugins.datasets.get("toy")
    assert spec.description == "a toy dataset"
    assert spec.load()() == "toy corpus"
    info = plugins.datasets.provider("toy")
    assert (info.distribution, info.version, info.status) == ("gvetool-toy", "1.0", "loaded")
    assert info.registered == {"dataset": ["toy"]}


TWO = (
    TOY
    + """
@hookimpl
def gvetool_register_models(register):
    register(ModelSpec(name="mine", description="its own model", target="x:y"))
"""
)
TWO = TWO.replace("import DatasetSpec, hookimpl", "import DatasetSpec, ModelSpec, hookimpl")


def test_same_name_from_two_distributions_is_refused_only_when_used(fake_dist, capsys):
    fake_dist("gvetool-toy", "toy_plugin", TOY)
    fake_dist("other-birds", "other_plugin", TWO)
    plugins = load_plugins()  # every command still starts
    warnings = [w for w in capsys.readouterr().err.splitlines() if w.startswith("warning:")]
    assert len(warnings) == 1 and "dataset 'toy' is registered twice" in warnings[0]
    assert "cub" in plugins.datasets and plugins.models.get("mine").name == "mine"
    with pytest.raises(GvetoolError) as excinfo:
        plugins.datasets.get("toy")
    message = str(excinfo.value)
    assert "dataset 'toy' is registered twice" in message
    assert "gvetool-toy 1.0" in message and "other-birds 1.0" in message
    assert "GVETOOL_DISABLE_PLUGINS" in message


def test_a_plugin_that_exits_at_import_or_registration_is_skipped(fake_dist, capsys):
    fake_dist("gvetool-toy", "toy_plugin", TOY)
    fake_dist("exiting-plugin", "exiting_plugin", "import sys\nsys.exit(3)\n")
    late = (
        "from gvetool.plugin_api import hookimpl\n"
        "@hookimpl\ndef gvetool_register_models(register):\n"
    )
    fake_dist("late-exit", "late_exit", late + "    raise SystemExit(4)\n")
    plugins = load_plugins()
    assert "toy" in plugins.datasets and "lrcn" in plugins.models
    err = capsys.readouterr().err
    assert (
        "plugin 'exiting_plugin' from exiting-plugin 1.0 was skipped: import raised SystemExit"
        in err
    )
    assert (
        "plugin 'late_exit' from late-exit 1.0 was skipped: registration raised SystemExit" in err
    )


def test_an_entry_point_named_like_a_built_in_is_skipped(fake_dist, capsys):
    fake_dist("impostor", "impostor_plugin", TOY, entry="models")
    plugins = load_plugins()
    assert "lrcn" in plugins.models and "toy" not in plugins.datasets
    err = capsys.readouterr().err
    assert "plugin 'models' of impostor 1.0" in err and "was skipped" in err


def test_disabling_one_side_of_a_clash_resolves_it(fake_dist, monkeypatch):
    fake_dist("gvetool-toy", "toy_plugin", TOY)
    fake_dist("other-birds", "other_plugin", TOY)
    monkeypatch.setenv("GVETOOL_DISABLE_PLUGINS", "other_plugin")
    plugins = load_plugins()
    assert plugins.datasets.provider("toy").distribution == "gvetool-toy"
    statuses = {info.name: info.status for info in plugins.infos}
    assert statuses["other_plugin"] == "disabled"


def test_plugin_whose_import_raises_is_one_warning_and_the_rest_works(fake_dist, capsys):
    fake_dist("gvetool-toy", "toy_plugin", TOY)
    fake_dist("broken-plugin", "broken_plugin", "raise ImportError('needs libfoo')\n")
    plugins = load_plugins()
    assert "toy" in plugins.datasets
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "plugin 'broken_plugin' from broken-plugin 1.0 was skipped" in warnings[0]
    assert "needs libfoo" in warnings[0]
    broken = next(info for info in plugins.infos if info.name == "broken_plugin")
    assert broken.status == "failed"


def test_disabled_plugin_is_not_even_imported(fake_dist, capsys, monkeypatch):
    fake_dist("broken-plugin", "broken_plugin", "raise ImportError('needs libfoo')\n")
    monkeypatch.setenv("GVETOOL_DISABLE_PLUGINS", "broken_plugin, something_else")
    plugins = load_plugins()
    assert capsys.readouterr().err == ""
    assert [i.status for i in plugins.infos if i.name == "broken_plugin"] == ["disabled"]


def test_plugin_failing_half_way_is_rolled_back(fake_dist, capsys):
    fake_dist(
        "half-plugin",
        "half_plugin",
        """
        from gvetool.plugin_api import DatasetSpec, ModelSpec, hookimpl

        @hookimpl
        def gvetool_register_models(register):
            register(ModelSpec(name="halfmodel", description="d", target="x:y"))

        @hookimpl
        def gvetool_register_datasets(register):
            register(DatasetSpec(name="halfdata", description="d", target="x:y"))
            raise RuntimeError("boom")
        """,
    )
    plugins = load_plugins()
    assert "halfmodel" not in plugins.models
    assert "halfdata" not in plugins.datasets
    assert "registration raised RuntimeError: boom" in capsys.readouterr().err


def test_registering_the_wrong_kind_of_spec_fails_that_plugin(fake_dist, capsys):
    fake_dist(
        "confused-plugin",
        "confused_plugin",
        """
        from gvetool.plugin_api import DatasetSpec, hookimpl

        @hookimpl
        def gvetool_register_models(register):
            register(DatasetSpec(name="notamodel", description="d", target="x:y"))
        """,
    )
    plugins = load_plugins()
    assert "notamodel" not in plugins.datasets
    assert "expected ModelSpec" in capsys.readouterr().err


def test_unknown_name_lists_the_known_ones_and_suggests(fake_dist):
    fake_dist("gvetool-toy", "toy_plugin", TOY)
    plugins = load_plugins()
    with pytest.raises(GvetoolError, match=r"unknown dataset 'tyo'; known datasets: .*toy") as e:
        plugins.datasets.get("tyo")
    assert "Did you mean 'toy'?" in str(e.value)
    assert len(str(e.value).splitlines()) == 1


def test_string_target_is_imported_only_on_use_and_failures_are_clear():
    spec = ModelSpec(name="lazy", description="d", target="json:dumps")
    assert spec.load()([1]) == "[1]"
    missing = ModelSpec(name="gone", description="d", target="no_such_module_xyz:make")
    with pytest.raises(GvetoolError, match="model 'gone' could not be loaded from"):
        missing.load()


@pytest.mark.parametrize("name", ["", "Upper", "has space", "-lead"])
def test_spec_names_are_validated(name):
    with pytest.raises(ValueError, match="must be lowercase"):
        DatasetSpec(name=name, description="d", target="m:f")


CLASHING_MODEL = """
from gvetool.plugin_api import ModelSpec, hookimpl

@hookimpl
def gvetool_register_models(register):
    register(ModelSpec(name="lrcn", description="another lrcn", target="nowhere:build"))
"""


def test_a_name_a_built_in_has_disables_that_name_only(fake_dist, tiny_cub_master):
    """A clash must not take the tool down: the CLI builds every model's options when it
    starts, so it is run here as a user runs it, in a process of its own."""
    site = fake_dist("lrcn-again", "lrcn_again", CLASHING_MODEL)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def gvetool(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "gvetool", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    info = gvetool("data", "info", "--dataset", "cub", "--data-root", str(tiny_cub_master))
    assert info.returncode == 0, info.stderr
    assert "model 'lrcn' is registered twice" in info.stderr  # the warning, once
    assert "Traceback" not in info.stderr
    listed = gvetool("plugins")
    assert listed.returncode == 0 and "lrcn_again" in listed.stdout
    train = gvetool("train", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master))
    assert train.returncode == 1
    assert (
        train.stderr.strip().splitlines()[-1].startswith("error: model 'lrcn' is registered twice")
    )
