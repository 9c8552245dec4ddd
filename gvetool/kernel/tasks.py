"""Model kinds: what differs between a captioner and a classifier, declared once.

The engine never compares a model's name or kind: it asks the model's spec for its
:class:`Task`, and the task says which contract the model meets (:mod:`gvetool.kernel.contracts`),
how it is validated after each epoch, and which validation number picks ``best.pt``.
A plugin uses one of the tasks below (``ModelSpec(task=CAPTIONING)``, the default) or
defines its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gvetool.kernel.contracts import CaptioningModel, SentenceClassifierModel
from gvetool.kernel.targets import resolve_target


@dataclass(frozen=True)
class Task:
    """A kind of model.

    ``validation`` (a callable or ``"module:attribute"``) is called as
    ``validation(config, split, vocab, store, device)`` and returns a callable
    ``validate(model) -> dict[str, float]`` with a ``close()``; ``best`` names the number
    that picks ``best.pt`` (higher is better), or ``None`` for the run's ``--val-metrics``
    to choose (:func:`gvetool.config.resolution.best_for_run`: CIDEr when given, as the
    original). ``generates`` says the model writes sentences, which evaluation,
    explanation and transfer need.
    """

    name: str
    contract: type
    validation: Any
    generates: bool
    best: str | None = None

    def make_validation(self, *args: Any) -> Any:
        return resolve_target(self.validation, f"task '{self.name}' validation")(*args)


CAPTIONING = Task(
    name="captioning",
    contract=CaptioningModel,
    validation="gvetool.evaluation.validation:CaptionValidation",
    generates=True,
)
CLASSIFICATION = Task(
    name="classification",
    contract=SentenceClassifierModel,
    validation="gvetool.evaluation.validation:AccuracyValidation",
    generates=False,
    best="accuracy",
)
