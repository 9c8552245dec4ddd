"""gvetool plugin: a Transformer-decoder captioner, as a third party would add a model.

Registers two models through the same hook as the built-ins, with no change to gvetool:

* ``transformer``: image feature -> one memory token; a causal Transformer decoder over
  the words; cross-entropy (token mean, as the built-in captioners).
* ``transformer-gve``: the same decoder with the class as a second memory token, trained
  like GVE: cross-entropy + lambda x REINFORCE with the frozen sentence classifier
  (gvetool's ``sc``) as the reward.

Options (``--layers 2`` or ``--model-option layers=2``): ``layers``, ``heads``,
``feedforward``; ``transformer-gve`` also GVE's ``reinforce_weight`` and
``reward_dropout``. The model's width is ``--hidden-size``; torch is imported only when a
model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gvetool.plugin_api import REWARD_DROPOUT, ModelSpec, hookimpl

__version__ = "0.1.0"


@dataclass(frozen=True)
class TransformerOptions:
    """The decoder's own hyper-parameters (the width is gvetool's ``hidden_size``)."""

    layers: int = field(default=2, metadata={"help": "decoder layers"})
    heads: int = field(default=4, metadata={"help": "attention heads (divide hidden_size)"})
    feedforward: int = field(default=0, metadata={"help": "feed-forward width; 0: 4 x hidden"})

    def __post_init__(self) -> None:
        for name in ("layers", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.feedforward < 0:
            raise ValueError(f"feedforward must be >= 0, got {self.feedforward}")


@dataclass(frozen=True)
class TransformerGveOptions(TransformerOptions):
    """The decoder's options and the two of GVE's loss this model uses."""

    reinforce_weight: float = field(
        default=0.2, metadata={"help": "lambda in CE + lambda x REINFORCE."}
    )
    reward_dropout: str = field(
        default="original",
        metadata={"help": "the reward classifier's dropout: original | never | always."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.reinforce_weight >= 0:
            raise ValueError(f"reinforce_weight must be >= 0, got {self.reinforce_weight}")
        if self.reward_dropout not in REWARD_DROPOUT:
            choices = ", ".join(REWARD_DROPOUT)
            raise ValueError(
                f"reward_dropout must be one of {choices}, got {self.reward_dropout!r}"
            )


@hookimpl
def gvetool_register_models(register):
    register(
        ModelSpec(
            name="transformer",
            description="Transformer-decoder captioner (image as memory)",
            target="gvetool_transformer.model:build_transformer",
            options=TransformerOptions,
        )
    )
    register(
        ModelSpec(
            name="transformer-gve",
            description="Transformer-decoder explainer: class-conditioned, GVE's REINFORCE",
            target="gvetool_transformer.model:build_transformer_gve",
            options=TransformerGveOptions,
            needs_classes=True,
            reward_model="sc",
            class_conditioned=True,
        )
    )
