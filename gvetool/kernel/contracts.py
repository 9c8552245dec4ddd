"""What the engine calls on a model, as code: protocols, checked when a model is built.

A model plugin's factory returns an ``nn.Module``; which further members it needs
depends on its spec's task and roles (:mod:`gvetool.kernel.tasks`,
:class:`gvetool.kernel.specs.ModelSpec`). The protocols below are the single statement of
those members and their signatures; the plugin guide (``docs/plugins.md``) shows them and
:meth:`gvetool.kernel.specs.ModelSpec.build` refuses a model that lacks one with one line
naming it, before any training starts.

Members the engine calls only *where a model has them* are :class:`OptionalMembers`
(``loss_terms``, ``fixed_shape_loss``, ``start_epoch``; a rewarded model's
``sentence_classifier`` and its ``forward_fixed_shape`` with ``fixed_shape_loss``) and
:class:`TransferableModel` (``vocabulary_parameters`` / ``class_parameters`` /
``freeze_groups``: transfer learning needs them and says so).
Under data parallelism every loss term must use every trainable parameter: DDP averages
gradients once, with the last term, and waits for every parameter's gradient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gvetool.utils.errors import GvetoolError

if TYPE_CHECKING:
    import torch

    from gvetool.kernel.batch import CaptionBatch


class TrainableModel(Protocol):
    """Every model: a loss for a batch, and the logs the progress bar and metrics show."""

    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's loss (a scalar) and floats to log, e.g. ``{"loss": 2.3}``.

        A token-mean loss divides its token sum by ``batch.mean_over()`` (under DDP the
        global batch's tokens per process, which keeps N processes equal to one).
        """


class CaptioningModel(TrainableModel, Protocol):
    """A model that writes sentences: trained, validated by caption metrics, evaluated."""

    def generate(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        max_len: int = 50,
        greedy: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy or sampled sentences ``(tokens [B, T], lengths [B])``, 0 after the end."""

    def beam_search(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        beam_size: int = 3,
        max_len: int = 50,
        length_penalty: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Beam-search sentences, in ``generate``'s form."""


class SentenceClassifierModel(TrainableModel, Protocol):
    """A model that reads sentences and scores classes (GVE's reward, evaluation's judge)."""

    def __call__(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, C]`` for sentences ``tokens [B, T]`` of ``lengths [B]`` >= 1."""


class RewardedModel(Protocol):
    """A model whose spec names a ``reward_model``: it is handed that model, frozen."""

    def attach_sentence_classifier(
        self, classifier: SentenceClassifierModel, token_map: torch.Tensor | None = None
    ) -> None:
        """Keep ``classifier`` (eval mode, no gradients) for the reward; ``token_map`` maps
        this model's token ids to the classifier's where their vocabularies differ."""


class OptionalMembers(Protocol):
    """What the engine calls on a model only where the model has it (no model must)."""

    #: A rewarded model's attached classifier: ``--cuda-graph`` checks that it has
    #: ``forward_fixed_shape`` before capturing the step that calls it.
    sentence_classifier: SentenceClassifierModel | None

    def loss_terms(self, batch: CaptionBatch) -> Sequence[Any]:
        """The parts of the batch's loss: the trainer calls ``loss(batch, term)`` and
        backpropagates each term before the next (a large loss in parts, less memory)."""

    def fixed_shape_loss(
        self, batch: CaptionBatch, mean_over: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``loss`` with every shape fixed by the batch's tensors and nothing read back to
        the host: the step ``--cuda-graph`` captures (refused in one line without it)."""

    def start_epoch(self, epoch: int) -> None:
        """Told before each epoch (0-based) starts; GVE switches its reward's dropout."""


class TransferableModel(Protocol):
    """What ``gvetool transfer`` reads: which parameters have a row per word or per class
    (resized, not copied) and the parameter-name prefixes each ``--freeze`` choice stops."""

    vocabulary_parameters: Sequence[str]
    class_parameters: Sequence[str]
    freeze_groups: Mapping[str, Sequence[str]]


def members(protocol: type) -> list[str]:
    """The methods and attributes a protocol requires, in the order it states them."""
    names: list[str] = []
    for klass in reversed(protocol.__mro__):
        if klass is object or klass is Protocol or not getattr(klass, "_is_protocol", False):
            continue
        names += list(vars(klass).get("__annotations__", {}))
        names += [n for n, v in vars(klass).items() if callable(v) and not _private(n)]
    return list(dict.fromkeys(names))


def _private(name: str) -> bool:
    return name.startswith("_") and name != "__call__"


def missing_members(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks."""
    missing = []
    for name in members(protocol):
        if name == "__call__":
            if not callable(obj):
                missing.append(name)
        elif not hasattr(obj, name):
            missing.append(name)
    return missing


def require(obj: Any, protocol: type, what: str) -> None:
    """One line naming the first missing member of ``protocol``, where ``obj`` lacks one."""
    missing = missing_members(obj, protocol)
    if missing:
        member = "forward(tokens, lengths)" if missing[0] == "__call__" else missing[0]
        raise GvetoolError(
            f"{what} does not provide {member}, which a {protocol.__name__} must "
            "(see docs/plugins.md, 'The model contract')"
        )
