"""The Transformer-decoder captioner: what gvetool's contract asks, nothing more.

    image feature -> linear -> ReLU -> dropout = memory token 1
    (class -> embedding = memory token 2, for transformer-gve)
    words -> embedding x sqrt(H) + sinusoidal positions -> dropout
    -> pre-norm causal Transformer decoder (self-attention over earlier words, attention
       to the memory) -> layer norm -> linear over the vocabulary

Cross-entropy is the token mean over the batch (``batch.mean_over()``, which keeps N
data-parallel processes equal to one). ``transformer-gve`` adds GVE's REINFORCE term:
a sentence sampled with dropout off is rewarded by the frozen sentence classifier's
probability of the true class, and ``-(R x log p(sample))`` averaged over sentences is
weighted by ``--reinforce-weight``. Decoding (greedy, sampled, beam) runs through
:mod:`gvetool.nn.decoding`: the decoder's state is the memory and the words so far.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gvetool.plugin_api import (
    REWARD_DROPOUT,
    CaptionBatch,
    GvetoolError,
    ModelShape,
    SentenceClassifierReward,
    Vocabulary,
    beam_search,
    decode,
    execution_for,
)
from gvetool_transformer import TransformerGveOptions, TransformerOptions


class TransformerCaptioner(SentenceClassifierReward, nn.Module):
    """A causal Transformer decoder over words, reading the image (and class) as memory."""

    vocabulary_parameters = ("embed.weight", "out.weight", "out.bias")
    class_parameters = ("class_memory.weight",)
    # Its own --freeze choices. "lstm" names the decoder too, for transfer runs saved when
    # gvetool knew only the built-ins' names (they resume as they were trained).
    freeze_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "none": (),
        "embeddings": ("embed.",),
        "decoder": ("embed.", "image.", "decoder.", "norm."),
        "all-but-output": ("embed.", "image.", "decoder.", "norm."),
        "lstm": ("embed.", "image.", "decoder.", "norm."),
    }

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        hidden_size: int,
        options: TransformerOptions,
        dropout: float = 0.1,
        num_classes: int = 0,
        reinforce_weight: float = 0.0,
        max_len: int = 50,
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.image = nn.Linear(feature_dim, hidden_size)
        self.class_memory = nn.Embedding(num_classes, hidden_size) if num_classes else None
        self.embed = nn.Embedding(vocab_size, hidden_size, padding_idx=Vocabulary.pad_id)
        nn.init.normal_(self.embed.weight, std=hidden_size**-0.5)
        layer = nn.TransformerDecoderLayer(
            hidden_size,
            options.heads,
            options.feedforward or 4 * hidden_size,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        self.decoder = nn.TransformerDecoder(layer, options.layers)
        self.norm = nn.LayerNorm(hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)
        self.drop = nn.Dropout(dropout)
        self.reinforce_weight = reinforce_weight
        self.max_len = max_len

    # --- the network ---------------------------------------------------------------------
    def _memory(self, features: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
        tokens = [self.drop(F.relu(self.image(features)))[:, None]]
        if self.class_memory is not None:
            tokens.append(self.class_memory(class_ids.clamp(min=0))[:, None])
        return torch.cat(tokens, dim=1)

    def _positions(self, length: int, like: torch.Tensor) -> torch.Tensor:
        """Sinusoidal position encodings ``[length, H]``: no cap on sentence length."""
        position = torch.arange(length, device=like.device, dtype=torch.float32)[:, None]
        rate = torch.exp(
            torch.arange(0, self.hidden_size, 2, device=like.device, dtype=torch.float32)
            * (-math.log(10000.0) / self.hidden_size)
        )
        encoding = torch.zeros(length, self.hidden_size, device=like.device)
        encoding[:, 0::2] = torch.sin(position * rate)
        encoding[:, 1::2] = torch.cos(position * rate)[:, : self.hidden_size // 2]
        return encoding.to(like.dtype)

    def _hidden(self, words: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[B, T, H]`` for input words ``[B, T]`` (each sees only earlier ones)."""
        embedded = self.embed(words) * math.sqrt(self.hidden_size)
        x = self.drop(embedded + self._positions(words.shape[1], embedded))
        mask = nn.Transformer.generate_square_subsequent_mask(
            words.shape[1], device=words.device, dtype=x.dtype
        )
        return self.norm(self.decoder(x, memory, tgt_mask=mask, tgt_is_causal=True))

    def _token_log_probs(
        self, features: torch.Tensor, class_ids: torch.Tensor, tokens: torch.Tensor
    ) -> torch.Tensor:
        """``log p`` of each target token given the earlier ones, ``[B, T]`` (padding too)."""
        start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
        hidden = self._hidden(
            torch.cat([start, tokens[:, :-1]], dim=1), self._memory(features, class_ids)
        )
        log_p = torch.log_softmax(self.out(hidden).float(), dim=-1)
        return log_p.gather(2, tokens[:, :, None]).squeeze(2)

    @staticmethod
    def _real(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return (positions[None, :] < lengths[:, None]).float()

    # --- the contract: loss, generate, beam_search ----------------------------------------
    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        token_lp = self._token_log_probs(batch.features, batch.class_ids, batch.tokens)
        cross_entropy = (
            -(token_lp * self._real(batch.tokens, batch.lengths)).sum() / batch.mean_over()
        )
        if self.sentence_classifier is None:
            return cross_entropy, {"loss": float(cross_entropy.detach())}
        reinforce, reward = self._reinforce(batch)
        loss = cross_entropy + self.reinforce_weight * reinforce
        logs = {"loss": loss, "ce": cross_entropy, "reward": reward.mean()}
        return loss, {key: float(value.detach()) for key, value in logs.items()}

    def _reinforce(self, batch: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``-(R x log p(sample))`` averaged over sentences; samples scored with dropout off."""
        tokens, lengths = self.generate(batch.features, batch.class_ids, self.max_len, greedy=False)
        reward = self.reward(tokens, lengths, batch.class_ids)
        with _evaluating(self):  # the scored distribution must be the sampled one
            token_lp = self._token_log_probs(batch.features, batch.class_ids, tokens)
        log_p = (token_lp * self._real(tokens, lengths)).sum(dim=1)
        return -(reward * log_p).mean(), reward

    @torch.no_grad()
    def generate(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        max_len: int = 50,
        greedy: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy or sampled sentences with dropout off, in gvetool's decoding form."""
        with _evaluating(self):
            state = self._start(self._memory(features, class_ids))
            compact = execution_for(features.device).compact_sampling
            return decode(
                self._step,
                _select,
                state,
                len(features),
                features.device,
                max_len,
                greedy,
                generator,
                compact,
            )

    @torch.no_grad()
    def beam_search(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        beam_size: int = 3,
        max_len: int = 50,
        length_penalty: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with _evaluating(self):
            memory = self._memory(features, class_ids).repeat_interleave(beam_size, 0)
            return beam_search(
                self._step,
                _select,
                self._start(memory),
                len(features),
                beam_size,
                features.device,
                max_len,
                length_penalty,
            )

    def _start(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return memory, torch.zeros(len(memory), 0, dtype=torch.long, device=memory.device)

    def _step(
        self, state: tuple[torch.Tensor, torch.Tensor], word: torch.Tensor
    ) -> tuple[Any, torch.Tensor]:
        """Append ``word`` to every row's prefix; the next word's logits from the last position."""
        memory, prefix = state
        prefix = torch.cat([prefix, word[:, None]], dim=1)
        return (memory, prefix), self.out(self._hidden(prefix, memory)[:, -1])


class _evaluating:
    """Dropout off inside the block, the previous mode restored after it."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.training = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.training)


def _select(
    state: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    memory, prefix = state
    return memory[rows], prefix[rows]


def _checked(shape: ModelShape, options: TransformerOptions) -> TransformerOptions:
    if shape.hidden_size % options.heads:
        raise GvetoolError(
            f"transformer: hidden_size {shape.hidden_size} must be divisible by heads "
            f"{options.heads} (--heads N)"
        )
    return options


def build_transformer(shape: ModelShape, options: TransformerOptions) -> TransformerCaptioner:
    """The ``transformer`` model: image memory, cross-entropy."""
    return TransformerCaptioner(
        shape.vocab_size,
        shape.feature_dim,
        shape.hidden_size,
        _checked(shape, options),
        shape.dropout,
    )


def build_transformer_gve(
    shape: ModelShape, options: TransformerGveOptions
) -> TransformerCaptioner:
    """The ``transformer-gve`` model: image and class memory, GVE's loss (and its reward's
    dropout schedule, ``--reward-dropout``)."""
    model = TransformerCaptioner(
        shape.vocab_size,
        shape.feature_dim,
        shape.hidden_size,
        _checked(shape, options),
        shape.dropout,
        shape.num_classes,
        options.reinforce_weight,
        shape.max_len,
    )
    model.reward_dropout_from = REWARD_DROPOUT[options.reward_dropout]
    return model
