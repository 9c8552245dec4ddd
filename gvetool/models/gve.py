"""GVE, "Generating Visual Explanations" (Hendricks et al., ECCV 2016).

An LRCN whose second LSTM also receives the class label, trained with

    loss = cross-entropy + lambda * REINFORCE

where REINFORCE rewards a sentence sampled from the model (up to ``max_len`` tokens) with
the probability that a frozen sentence classifier assigns to the true class: explanations
should be both image-relevant (cross-entropy) and class-discriminative (reward).

How the REINFORCE term is computed, and why it is exact: sampling runs without building a
graph (finished sentences are dropped as they end), then the sampled sentences' log-
probabilities are scored in one packed teacher-forced pass. Both use dropout off, so the
scored distribution is the sampled one and ``-(R - b) * log p(sample)`` has the same
gradient as differentiating through the sampling loop (tested against that formulation
in ``gvetool.engine.reference``), without any work after a sentence's end.

Baselines ``b``: ``none`` (the paper), ``mean`` (the batch's mean reward) or ``greedy``
(the reward of the greedy sentence: self-critical training).
"""

from __future__ import annotations

import torch

from gvetool.data.captions import CaptionBatch
from gvetool.models.captioner import Captioner
from gvetool.models.sentence_classifier import SentenceClassifier


class GVE(Captioner):
    """Class-conditioned captioner with a REINFORCE term from a frozen sentence classifier."""

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        num_classes: int,
        embedding_size: int = 1000,
        hidden_size: int = 1000,
        dropout: float = 0.5,
        reinforce_weight: float = 0.2,
        baseline: str = "none",
        max_len: int = 50,
    ) -> None:
        super().__init__(vocab_size, feature_dim, embedding_size, hidden_size, dropout, num_classes)
        self.reinforce_weight = reinforce_weight
        self.baseline = baseline
        self.max_len = max_len
        self.sentence_classifier: SentenceClassifier | None = None
        self.token_map: torch.Tensor | None = None

    def attach_sentence_classifier(
        self, classifier: SentenceClassifier, token_map: torch.Tensor | None = None
    ) -> None:
        """Use ``classifier`` for the reward: frozen, in eval mode, not part of this model.

        It is stored outside the module tree, so it is neither trained, nor saved with the
        explainer, nor switched to training mode by ``GVE.train()``. ``token_map`` maps this
        model's token ids to the classifier's when their vocabularies differ (transfer).
        """
        classifier.eval().requires_grad_(False)
        object.__setattr__(self, "sentence_classifier", classifier)
        object.__setattr__(self, "token_map", token_map)

    @torch.no_grad()
    def reward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, class_ids: torch.Tensor
    ) -> torch.Tensor:
        """Probability the frozen classifier gives the true class, per sentence."""
        classifier = self.sentence_classifier
        if classifier is None:
            raise RuntimeError("GVE needs a sentence classifier: call attach_sentence_classifier")
        classifier.eval()
        if self.token_map is not None:
            tokens = self.token_map.to(tokens.device)[tokens]
        probs = torch.softmax(classifier(tokens, lengths.clamp(min=1)).float(), dim=1)
        return probs.gather(1, class_ids[:, None]).squeeze(1)

    def reinforce_loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(-(R - b) * log p(sample)).mean()`` and the rewards ``R``."""
        features, class_ids = batch.features, batch.class_ids
        sampled, lengths = self.generate(features, class_ids, self.max_len, greedy=False)
        reward = self.reward(sampled, lengths, class_ids)
        if self.baseline == "mean":
            baseline = reward.mean()
        elif self.baseline == "greedy":
            greedy, greedy_lengths = self.generate(features, class_ids, self.max_len, greedy=True)
            baseline = self.reward(greedy, greedy_lengths, class_ids)
        else:
            baseline = torch.zeros_like(reward)
        log_p = self.sentence_log_probs(features, class_ids, sampled, lengths, dropout=False)
        return -((reward - baseline) * log_p).mean(), reward

    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cross_entropy = self.caption_loss(batch)
        reinforce, reward = self.reinforce_loss(batch)
        loss = cross_entropy + self.reinforce_weight * reinforce
        logs = {"loss": loss, "ce": cross_entropy, "reward": reward.mean()}
        return loss, {key: float(value.detach()) for key, value in logs.items()}


def build_gve(config, vocab_size: int, feature_dim: int, num_classes: int) -> GVE:
    """Model factory of the ``gve`` plugin."""
    return GVE(
        vocab_size,
        feature_dim,
        num_classes,
        config.embedding_size,
        config.hidden_size,
        config.dropout,
        config.reinforce_weight,
        config.baseline,
        config.max_len,
    )
