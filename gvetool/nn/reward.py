"""The reward of GVE-style training: a frozen sentence classifier's belief in the true class.

A model whose spec names a ``reward_model`` mixes this in to meet
:class:`gvetool.kernel.contracts.RewardedModel`; the built-in GVE and the Transformer plugin's
``transformer-gve`` both do.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SentenceClassifierReward:
    """Holds the frozen classifier and scores sentences with it.

    ``reward_dropout_from`` is the epoch (0-based) from which the classifier scores with
    its dropout on, as the original's does from the second epoch (its trainer's
    ``model.train()`` after the first validation reaches the classifier, a submodule
    there); ``None``: never. The trainer calls :meth:`start_epoch` before each epoch.
    """

    sentence_classifier: Any = None
    token_map: torch.Tensor | None = None
    reward_dropout_from: int | None = None
    reward_dropout: bool = False

    def start_epoch(self, epoch: int) -> None:
        """Switch the reward's dropout for ``epoch`` (0-based)."""
        start = self.reward_dropout_from
        object.__setattr__(self, "reward_dropout", start is not None and epoch >= start)

    def attach_sentence_classifier(
        self, classifier: nn.Module, token_map: torch.Tensor | None = None
    ) -> None:
        """Use ``classifier`` for the reward: frozen, in eval mode, not part of this model.

        It is stored outside the module tree, so it is neither trained, nor saved with the
        model, nor switched to training mode by the model's ``train()``. ``token_map`` maps
        this model's token ids to the classifier's when their vocabularies differ (transfer).
        """
        classifier.eval().requires_grad_(False)
        object.__setattr__(self, "sentence_classifier", classifier)
        object.__setattr__(self, "token_map", token_map)

    @torch.no_grad()
    def reward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        class_ids: torch.Tensor,
        fixed_shape: bool = False,
    ) -> torch.Tensor:
        """Probability the frozen classifier gives the true class, per sentence (with its
        dropout on where :attr:`reward_dropout` says so; its weights are never trained).
        ``fixed_shape``: through the classifier's ``forward_fixed_shape`` (the same
        logits, no host synchronisation), as a captured training step needs."""
        classifier = self.sentence_classifier
        if classifier is None:
            raise RuntimeError("no sentence classifier: call attach_sentence_classifier first")
        classifier.train(self.reward_dropout)
        if self.token_map is not None:
            if self.token_map.device != tokens.device:  # once: a captured step copies nothing
                object.__setattr__(self, "token_map", self.token_map.to(tokens.device))
            tokens = self.token_map[tokens]
        score = classifier.forward_fixed_shape if fixed_shape else classifier
        probs = torch.softmax(score(tokens, lengths.clamp(min=1)).float(), dim=1)
        return probs.gather(1, class_ids[:, None]).squeeze(1)
