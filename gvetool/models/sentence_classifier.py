"""The LSTM sentence classifier (``sc``): which class does a sentence describe?

embedding -> LSTM over the real tokens only (packed) -> last hidden state -> dropout ->
linear over classes. It is trained on the ground-truth descriptions and then, frozen,
gives GVE its reward: the probability of the true class for a sampled explanation.
Sentences are read including their end token, as GVE's samples are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from gvetool.data.captions import CaptionBatch
from gvetool.data.vocab import Vocabulary
from gvetool.models.captioner import INIT_RANGE


class SentenceClassifier(nn.Module):
    task = "classification"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_size: int = 1000,
        hidden_size: int = 1000,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.embed = nn.Embedding(vocab_size, embedding_size, padding_idx=Vocabulary.pad_id)
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, num_classes)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -INIT_RANGE, INIT_RANGE)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, C]`` for sentences ``tokens [B, T]`` of ``lengths [B]`` (>= 1)."""
        packed = pack_padded_sequence(
            self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        return self.out(F.dropout(hidden[-1], self.dropout, training=self.training))

    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self(batch.tokens, batch.lengths)
        loss = F.cross_entropy(logits, batch.class_ids)
        accuracy = (logits.argmax(dim=1) == batch.class_ids).float().mean()
        return loss, {"loss": float(loss.detach()), "acc": float(accuracy)}


def build_sentence_classifier(
    config, vocab_size: int, feature_dim: int, num_classes: int
) -> SentenceClassifier:
    """Model factory of the ``sc`` plugin (image features are not used)."""
    return SentenceClassifier(
        vocab_size, num_classes, config.embedding_size, config.hidden_size, config.dropout
    )
