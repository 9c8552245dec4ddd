"""Built-in model plugins: lrcn, gve and sc (the sentence classifier).

This module is what the ``models`` entry point names; torch is imported only when a model
is built. A model factory is called as ``factory(shape, options)`` (a
:class:`gvetool.kernel.specs.ModelShape` and the spec's typed options) and returns an
``nn.Module`` meeting its task's contract (:mod:`gvetool.kernel.contracts`). GVE and its
explanation-discriminative ablation declare :class:`ReinforceOptions`.
"""

from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.specs import ModelSpec
from gvetool.kernel.tasks import CLASSIFICATION
from gvetool.nn.reinforce_options import ReinforceOptions

SENTENCE_CLASSIFIER = "sc"  # the reward model of gve and explanation-discriminative


@hookimpl
def gvetool_register_models(register):
    register(
        ModelSpec(
            name="lrcn",
            description="LRCN image describer (Donahue et al. 2015, factored); the paper's "
            "description model",
            target="gvetool.builtins.models.captioner:build_lrcn",
        )
    )
    register(
        ModelSpec(
            name="gve",
            description="Generating Visual Explanations (Hendricks et al. 2016)",
            target="gvetool.builtins.models.gve:build_gve",
            options=ReinforceOptions,
            needs_classes=True,
            reward_model=SENTENCE_CLASSIFIER,
            class_conditioned=True,
        )
    )
    register(
        ModelSpec(
            name=SENTENCE_CLASSIFIER,
            description="LSTM sentence classifier (GVE's reward)",
            target="gvetool.builtins.models.sentence_classifier:build_sentence_classifier",
            task=CLASSIFICATION,
            needs_classes=True,
        )
    )
    # The GVE paper's ablations (its Table 1), between description and explanation.
    register(
        ModelSpec(
            name="definition",
            description="GVE ablation: class input only, no image, no REINFORCE",
            target="gvetool.builtins.models.captioner:build_definition",
            needs_classes=True,
            class_conditioned=True,
        )
    )
    register(
        ModelSpec(
            name="explanation-label",
            description="GVE ablation: image and class input, no REINFORCE",
            target="gvetool.builtins.models.captioner:build_explanation_label",
            needs_classes=True,
            class_conditioned=True,
        )
    )
    register(
        ModelSpec(
            name="explanation-discriminative",
            description="GVE ablation: image input and REINFORCE, no class input",
            target="gvetool.builtins.models.gve:build_explanation_discriminative",
            options=ReinforceOptions,
            needs_classes=True,
            reward_model=SENTENCE_CLASSIFIER,
        )
    )
