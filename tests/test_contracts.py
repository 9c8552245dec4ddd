"""The model contract as code: protocols, the check at build time, the guide's examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gvetool.config.schema import TrainConfig
from gvetool.kernel.contracts import (
    CaptioningModel,
    RewardedModel,
    SentenceClassifierModel,
    TransferableModel,
    members,
    missing_members,
)
from gvetool.kernel.manager import get_plugins
from gvetool.kernel.specs import (
    DatasetSpec,
    EncoderSpec,
    LauncherSpec,
    MetricSpec,
    ModelSpec,
    TrackerSpec,
)
from gvetool.kernel.tasks import CAPTIONING, CLASSIFICATION
from gvetool.utils.errors import GvetoolError

GUIDE = Path(__file__).parents[1] / "docs" / "plugins.md"


def test_the_protocols_state_the_members_the_engine_calls():
    assert members(CaptioningModel) == ["loss", "generate", "beam_search"]
    assert members(SentenceClassifierModel) == ["loss", "__call__"]
    assert members(RewardedModel) == ["attach_sentence_classifier"]
    assert members(TransferableModel) == [
        "vocabulary_parameters",
        "class_parameters",
        "freeze_groups",
    ]


@pytest.mark.parametrize("name", get_plugins().models.names())
def test_every_built_in_model_meets_its_contract(name):
    spec = get_plugins().models.get(name)
    config = TrainConfig(model=name, dataset="synth", hidden_size=8, embedding_size=8)
    model = spec.build(config, 12, 6, 3)  # checks the contract
    assert missing_members(model, spec.task.contract) == []
    if spec.task is CAPTIONING:
        assert missing_members(model, TransferableModel) == []


def test_a_model_missing_a_member_is_refused_with_one_line_naming_it():
    class NoClassifierHandle:
        def loss(self, batch): ...

        def generate(self, features, class_ids, max_len=50, greedy=True, generator=None): ...

        def beam_search(self, features, class_ids, beam_size=3, max_len=50): ...

    spec = ModelSpec("rewarded", "d", lambda *args: NoClassifierHandle(), reward_model="sc")
    with pytest.raises(GvetoolError) as caught:
        spec.build(TrainConfig(), 1, 1, 1)
    assert str(caught.value) == (
        "model 'rewarded' does not provide attach_sentence_classifier, which a RewardedModel "
        "must (see docs/plugins.md, 'The model contract')"
    )
    classifier = ModelSpec("reader", "d", lambda *args: object(), task=CLASSIFICATION)
    with pytest.raises(GvetoolError, match=r"does not provide loss, which a Sentence"):
        classifier.build(TrainConfig(), 1, 1, 1)


def test_the_plugin_guides_examples_run_and_register_valid_specs():
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) >= 5
    registered = []
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, str(GUIDE), "exec"), namespace)
        for name, value in namespace.items():
            if name.startswith("gvetool_register_") and name != "gvetool_register_commands":
                value(registered.append)  # type: ignore[operator]
    kinds = {type(spec) for spec in registered}
    assert kinds == {ModelSpec, DatasetSpec, EncoderSpec, MetricSpec, TrackerSpec, LauncherSpec}


def test_every_member_the_engine_reads_when_present_is_in_the_contract():
    """The engine's ``getattr``/``hasattr`` probes of a model name only members the
    contract declares, so the contract says what is really called."""
    from gvetool.kernel.contracts import OptionalMembers, TransferableModel, members

    probe = re.compile(r"(?:getattr|hasattr)\((?:self\.|run\.)?model, \"(\w+)\"")
    engine = Path(__file__).parents[1] / "gvetool" / "engine"
    probed = {name for path in engine.glob("*.py") for name in probe.findall(path.read_text())}
    assert {"start_epoch", "loss_terms", "fixed_shape_loss", "freeze_groups"} <= probed
    assert probed - set(members(OptionalMembers)) - set(members(TransferableModel)) == set()
