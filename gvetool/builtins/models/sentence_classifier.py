"""The LSTM sentence classifier (``sc``): which class does a sentence describe?

embedding -> dropout -> LSTM over the real tokens only (packed) -> last hidden state ->
dropout -> linear over classes, initialised as the original (embedding and linear weights
uniform in (-0.1, 0.1), linear bias 0, ``nn.LSTM``'s own initialisation). It is trained
on the ground-truth descriptions and then, frozen, gives GVE its reward: the probability
of the true class for a sampled explanation.
Sentences are read including their end token, as GVE's samples are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from gvetool.builtins.models.captioner import init_embedding_and_linear
from gvetool.data.vocab import Vocabulary
from gvetool.kernel.batch import CaptionBatch
from gvetool.kernel.specs import ModelShape


class SentenceClassifier(nn.Module):
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
        init_embedding_and_linear(self.embed, self.out)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, C]`` for sentences ``tokens [B, T]`` of ``lengths [B]`` (>= 1)."""
        embedded = F.dropout(self.embed(tokens), self.dropout, training=self.training)
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        return self.out(F.dropout(hidden[-1], self.dropout, training=self.training))

    def forward_fixed_shape(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with every row run over all ``T`` padded steps and the hidden
        state read at its last real token: the same logits, and no lengths read back to
        the host (packing needs them there), so a CUDA graph can capture it."""
        embedded = F.dropout(self.embed(tokens), self.dropout, training=self.training)
        outputs, _ = self.lstm(embedded)
        last = (lengths - 1).clamp(min=0)[:, None, None].expand(-1, 1, outputs.shape[2])
        hidden = outputs.gather(1, last).squeeze(1)
        return self.out(F.dropout(hidden, self.dropout, training=self.training))

    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self(batch.tokens, batch.lengths)
        loss = F.cross_entropy(logits, batch.class_ids)
        accuracy = (logits.argmax(dim=1) == batch.class_ids).float().mean()
        return loss, {"loss": float(loss.detach()), "acc": float(accuracy)}


def build_sentence_classifier(shape: ModelShape, options: None) -> SentenceClassifier:
    """Model factory of the ``sc`` plugin (image features are not used)."""
    return SentenceClassifier(
        shape.vocab_size,
        shape.num_classes,
        shape.embedding_size,
        shape.hidden_size,
        shape.dropout,
    )
