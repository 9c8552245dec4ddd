"""The options of a model trained with GVE's REINFORCE term, declared by its spec.

``gve``, ``explanation-discriminative`` and the Transformer plugin's ``transformer-gve``
declare these (``ModelSpec(options=ReinforceOptions)``, or a dataclass that inherits
them); users set them as always, ``--reinforce-weight 0.5`` or ``reinforce_weight = 0.5``
in TOML, and they are saved in ``[model_options]``. Light on purpose: a spec imports it
at registration, before torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BASELINES = ("none", "mean", "greedy")
# From which epoch (0-based) the reward's sentence classifier runs with dropout: the
# original's trainer puts the whole GVE, its classifier included, back into train mode
# after the first validation; None: never.
REWARD_DROPOUT = {"original": 1, "always": 0, "never": None}


@dataclass(frozen=True)
class ReinforceOptions:
    """GVE's loss, CE + lambda x REINFORCE, and how its reward is computed."""

    reinforce_weight: float = field(
        default=0.2, metadata={"help": "lambda in CE + lambda x REINFORCE."}
    )
    baseline: str = field(
        default="none",
        metadata={"help": "REINFORCE baseline none (the paper) | mean | greedy."},
    )
    reward_dropout: str = field(
        default="original",
        metadata={
            "help": "the sentence classifier's dropout in the reward: original (on from the "
            "second epoch, as in the original code) | never | always."
        },
    )
    reinforce_tokens: int | None = field(
        default=None,
        metadata={
            "help": "re-score the samples in passes of at most this many tokens (bounds "
            "memory; 0: one pass) instead of the default: backpropagating through the "
            "sampling pass on a CPU, one re-scoring pass on CUDA.",
            "resumable": True,
        },
    )

    def __post_init__(self) -> None:
        if not math.isfinite(self.reinforce_weight):
            raise ValueError(
                f"reinforce_weight must be a finite number, got {self.reinforce_weight}"
            )
        if self.reinforce_weight < 0:
            raise ValueError(f"reinforce_weight must be >= 0, got {self.reinforce_weight}")
        if self.reinforce_tokens is not None and self.reinforce_tokens < 0:
            raise ValueError(f"reinforce_tokens must be >= 0, got {self.reinforce_tokens}")
        if self.baseline not in BASELINES:
            raise ValueError(
                f"baseline must be one of {', '.join(BASELINES)}, got {self.baseline!r}"
            )
        if self.reward_dropout not in REWARD_DROPOUT:
            raise ValueError(
                f"reward_dropout must be one of {', '.join(REWARD_DROPOUT)}, "
                f"got {self.reward_dropout!r}"
            )

    @property
    def reward_dropout_from(self) -> int | None:
        """The first epoch (0-based) whose reward is scored with dropout (``None``: never)."""
        return REWARD_DROPOUT[self.reward_dropout]
