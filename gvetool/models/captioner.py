"""LRCN (Donahue et al., CVPR 2015, factored variant) and the machinery GVE builds on.

    image feature -> linear -> ReLU -> dropout = image vector
    word embedding -> LSTM 1
    [image vector, LSTM 1 output] -> LSTM 2 -> dropout -> linear -> vocabulary logits

GVE (:mod:`gvetool.models.gve`) adds the class label to LSTM 2's input. Both inputs are
constant over a sentence, so their share of LSTM 2's gates is computed once per sentence
(``gate_offset``); the label enters as a one-hot vector whose input weights are stored as a
``classes x 4H`` table, so multiplying the one-hot is a row lookup. Sentences run packed:
no work is spent on padding, in training or in generation.

The training loss is the summed token cross-entropy of each sentence, averaged over
sentences: it does not depend on how a batch is split, so data-parallel training on N
processes computes exactly the gradient of one process with the same global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gvetool.data.captions import CaptionBatch
from gvetool.data.vocab import Vocabulary
from gvetool.models.lstm import PackedLSTM, Packing

INIT_RANGE = 0.1


class Captioner(nn.Module):
    """LRCN; with ``num_classes > 0`` the class-conditioned LSTM 2 of GVE."""

    task = "captioning"

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        embedding_size: int = 1000,
        hidden_size: int = 1000,
        dropout: float = 0.5,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.image = nn.Linear(feature_dim, embedding_size)
        self.embed = nn.Embedding(vocab_size, embedding_size, padding_idx=Vocabulary.pad_id)
        self.lstm1 = PackedLSTM(embedding_size, hidden_size)
        self.lstm2 = PackedLSTM(hidden_size, hidden_size)
        self.lstm2_image = nn.Linear(embedding_size, 4 * hidden_size, bias=False)
        self.lstm2_class = nn.Embedding(num_classes, 4 * hidden_size) if num_classes else None
        self.out = nn.Linear(hidden_size, vocab_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -INIT_RANGE, INIT_RANGE)

    def _drop(self, x: torch.Tensor, dropout: bool) -> torch.Tensor:
        return F.dropout(x, self.dropout, training=self.training and dropout)

    def conditioning(
        self, features: torch.Tensor, class_ids: torch.Tensor, dropout: bool = True
    ) -> torch.Tensor:
        """LSTM 2's per-sentence gate input from the image (and class): ``[B, 4H]``."""
        image = self._drop(F.relu(self.image(features)), dropout)
        offset = self.lstm2_image(image)
        if self.lstm2_class is not None:
            offset = offset + self.lstm2_class(class_ids)
        return offset

    def token_logits(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        dropout: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced logits of every real token, packed.

        Returns ``(logits [N, V], targets [N], rows [N])`` where ``rows`` maps each packed
        token back to its sentence in the batch.
        """
        order = torch.argsort(lengths, descending=True, stable=True)
        packing = Packing.from_lengths(lengths[order]).to(tokens.device)
        tokens = tokens[order]
        start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)
        h1 = self.lstm1(self.embed(packing.pack(inputs)), packing)
        offset = self.conditioning(features[order], class_ids[order], dropout)
        h2 = self.lstm2(h1, packing, offset)
        logits = self.out(self._drop(h2, dropout))
        return logits, packing.pack(tokens), order[packing.rows]

    def sentence_log_probs(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        dropout: bool = True,
    ) -> torch.Tensor:
        """``log p(sentence)`` per row: the sum of its tokens' log-probabilities."""
        logits, targets, rows = self.token_logits(features, class_ids, tokens, lengths, dropout)
        token_lp = -F.cross_entropy(logits, targets, reduction="none")
        return torch.zeros(len(tokens), device=tokens.device, dtype=token_lp.dtype).index_add(
            0, rows, token_lp
        )

    def caption_loss(self, batch: CaptionBatch) -> torch.Tensor:
        """Summed token cross-entropy per sentence, averaged over the batch."""
        log_p = self.sentence_log_probs(
            batch.features, batch.class_ids, batch.tokens, batch.lengths
        )
        return -log_p.mean()

    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.caption_loss(batch)
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def generate(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        max_len: int = 50,
        greedy: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy or sampled sentences, ``(tokens [B, T], lengths [B])``.

        Tokens include the end token when one was produced (a sentence cut at ``max_len``
        has none); positions after a sentence's end are 0. Finished sentences are dropped
        from the computation, so no work is spent after an end token. Dropout is off.
        """
        batch = len(features)
        device = features.device
        offset = self.conditioning(features, class_ids, dropout=False)
        state1 = self.lstm1.zero_state(batch, offset)
        state2 = self.lstm2.zero_state(batch, offset)
        word = torch.full((batch,), Vocabulary.start_id, dtype=torch.long, device=device)
        active = torch.arange(batch, device=device)
        tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)
        lengths = torch.full((batch,), max_len, dtype=torch.long, device=device)
        for t in range(max_len):
            state1 = self.lstm1.step(self.embed(word), state1)
            state2 = self.lstm2.step(state1[0], state2, offset)
            logits = self.out(state2[0])
            if greedy:
                word = logits.argmax(dim=1)
            else:
                probs = torch.softmax(logits.float(), dim=1)
                word = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            tokens[active, t] = word
            running = word != Vocabulary.end_id
            lengths[active[~running]] = t + 1
            if not bool(running.any()):
                break
            active, word, offset = active[running], word[running], offset[running]
            state1 = (state1[0][running], state1[1][running])
            state2 = (state2[0][running], state2[1][running])
        width = int(lengths.max()) if batch else 0
        return tokens[:, :width], lengths


def build_lrcn(config, vocab_size: int, feature_dim: int, num_classes: int) -> Captioner:
    """Model factory of the ``lrcn`` plugin (class labels are not used)."""
    return Captioner(
        vocab_size, feature_dim, config.embedding_size, config.hidden_size, config.dropout
    )
