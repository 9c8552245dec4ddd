"""A model's own options: parsed, checked against its spec, carried by the config."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gvetool.cli import main
from gvetool.config.schema import TrainConfig
from gvetool.config.toml_files import load_toml
from gvetool.kernel.options import parse_assignments, resolve_model_options
from gvetool.kernel.specs import ModelSpec
from gvetool.utils.errors import GvetoolError


@dataclass(frozen=True)
class Options:
    layers: int = 2
    dropout: float = field(default=0.1, metadata={"help": "attention dropout"})
    activation: str = "gelu"
    shared: bool = False

    def __post_init__(self) -> None:
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1, got {self.layers}")


SPEC = ModelSpec("tiny", "d", "x:y", options=Options)


def test_assignments_parse_numbers_booleans_and_words():
    assert parse_assignments(["layers=3", "dropout=0.5", "shared=true", "activation=relu"]) == {
        "layers": 3,
        "dropout": 0.5,
        "shared": True,
        "activation": "relu",
    }
    with pytest.raises(GvetoolError, match="write KEY=VALUE"):
        parse_assignments(["layers"])


def test_options_are_checked_and_completed_with_defaults():
    assert resolve_model_options(SPEC, {"layers": 4, "dropout": 0}) == {
        "layers": 4,
        "dropout": 0.0,
        "activation": "gelu",
        "shared": False,
    }
    cases = [
        (
            {"layer": 4},
            "model 'tiny' has no option 'layer' (its options: layers, dropout, "
            "activation, shared); did you mean 'layers'?",
        ),
        ({"layers": 2.5}, "model 'tiny' option layers must be int, got 2.5"),
        ({"shared": 1}, "model 'tiny' option shared must be bool, got 1"),
        ({"layers": 0}, "model 'tiny' options: layers must be >= 1, got 0"),
    ]
    for given, message in cases:
        with pytest.raises(GvetoolError) as caught:
            resolve_model_options(SPEC, given)
        assert str(caught.value) == message
    with pytest.raises(
        GvetoolError, match=r"model 'plain' has no option 'layers' \(its options: none"
    ):
        resolve_model_options(ModelSpec("plain", "d", "x:y"), {"layers": 2})


def test_the_config_file_holds_them_as_a_model_options_table(tmp_path):
    config = TrainConfig(model="lrcn", dataset="synth", model_options={"layers": 3, "act": "x"})
    path = tmp_path / "run.toml"
    config.save(path)
    assert path.read_text().endswith('[model_options]\nlayers = 3\nact = "x"\n')
    assert load_toml(path)["model_options"] == {"layers": 3, "act": "x"}
    (tmp_path / "bad.toml").write_text("[training]\nlr = 1\n")
    with pytest.raises(
        GvetoolError, match=r"the tables are \[model_options\] and \[launcher\], not \[training\]"
    ):
        load_toml(tmp_path / "bad.toml")


def test_a_built_in_model_without_options_refuses_one(capsys):
    assert main(["train", "lrcn", "--dataset", "synth", "--model-option", "layers=2"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: model 'lrcn' has no option 'layers' (its options: none)"
    )


DEEP = """
from dataclasses import dataclass
from gvetool.plugin_api import ModelSpec, hookimpl

@dataclass(frozen=True)
class Depth:
    depth: int = 1

@hookimpl
def gvetool_register_models(register):
    register(ModelSpec(name="deep", description="d", target="x:y", options=Depth))
"""


def test_one_config_for_several_models_gives_each_its_own_options(fake_dist):
    from gvetool.config.resolution import for_model, resolve
    from gvetool.utils.errors import ConfigError

    fake_dist("gvetool-deep", "deep_plugin", DEEP)
    shared = resolve(
        None, {"dataset": "cub", "reinforce_weight": 0.5, "model_options": {"depth": 3}}
    )
    assert shared.model_options == {"reinforce_weight": 0.5, "depth": 3}  # reproduce's
    gve = for_model(shared, "gve", shared=True).model_options
    assert gve == {
        "reinforce_weight": 0.5,
        "baseline": "none",
        "reward_dropout": "original",
        "reinforce_tokens": None,
    }
    assert for_model(shared, "deep", shared=True).model_options == {"depth": 3}
    assert for_model(shared, "sc", shared=True).model_options == {}
    with pytest.raises(GvetoolError, match="model 'gve' has no option 'depth'"):
        for_model(shared, "gve")  # a config meant for gve alone
    with pytest.raises(ConfigError, match="no installed model has an option 'width'"):
        resolve(None, {"dataset": "cub", "model_options": {"width": 2}})
