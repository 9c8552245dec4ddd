"""LRCN (Donahue et al., CVPR 2015, factored variant) and the machinery GVE builds on.

    image feature -> linear -> ReLU -> dropout = image vector          (once per sentence)
    word embedding -> dropout -> LSTM 1
    dropout([image vector, (class one-hot,) LSTM 1 output]) -> LSTM 2   (fresh mask per step)
    -> dropout -> linear -> vocabulary logits

as the original PyTorch implementation of GVE computes it (its ``models/lrcn.py``): the
same dropout sites, the image projected to the hidden size, LSTMs with ``nn.LSTM``'s
parameters and initialisation, embeddings and linear weights uniform in (-0.1, 0.1) and
linear biases 0. GVE (:mod:`gvetool.builtins.models.gve`) adds the class one-hot to LSTM 2's input.

LSTM 2's input weights are kept as three parameters (image, class and LSTM 1 output
columns): the class columns as a ``classes x 4H`` table, so that multiplying a one-hot is
a row lookup and transfer can resize it. Where no dropout varies the image and class from
step to step (generation, sampling, re-scoring samples), their share of the gates is
computed once per sentence (``gate_offset``); teacher-forced training concatenates the
three inputs per token and multiplies them with the concatenated weights, like the
original. Sentences run packed: no work is spent on padding.

The training loss is the token cross-entropy averaged over all real tokens of the batch
(``nn.CrossEntropyLoss`` over packed targets in the original). Under data parallelism
each process divides its token sum by the global batch's token count over the number of
processes (``CaptionBatch.ce_tokens``), so that averaging the processes' gradients gives
exactly the gradient of one process with the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gvetool.data.vocab import Vocabulary
from gvetool.kernel.batch import CaptionBatch
from gvetool.kernel.specs import ModelShape
from gvetool.nn.decoding import beam_search as search
from gvetool.nn.decoding import decode
from gvetool.nn.execution import execution_for
from gvetool.nn.graphed_decoding import DecodingGraphs, decode_every_step
from gvetool.nn.lstm import Activations, PackedLSTM, Packing
from gvetool.nn.output_loss import output_nll

INIT_RANGE = 0.1
# what a decoding step hands on with each layer's ((hidden, cell), gate activations)
Keep = Callable[..., None]


def init_embedding_and_linear(*modules: nn.Module) -> None:
    """The original's init for embeddings and linear layers: U(-0.1, 0.1) weights, 0 biases."""
    for module in modules:
        nn.init.uniform_(module.weight, -INIT_RANGE, INIT_RANGE)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


class Captioner(nn.Module):
    """LRCN; with ``num_classes > 0`` the class-conditioned LSTM 2 of GVE."""

    # What transfer learning needs to know (gvetool.engine.transfer): parameters with a row
    # per word or per class, and the parameter-name prefixes of each --freeze choice.
    vocabulary_parameters = ("embed.weight", "out.weight", "out.bias")
    class_parameters = ("lstm2_class.weight",)
    freeze_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "none": (),
        "embeddings": ("embed.",),
        "lstm": ("embed.", "image.", "lstm1.", "lstm2.", "lstm2_image."),
        "all-but-output": ("embed.", "image.", "lstm1.", "lstm2.", "lstm2_image."),
    }

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        embedding_size: int = 1000,
        hidden_size: int = 1000,
        dropout: float = 0.5,
        num_classes: int = 0,
        image_input: bool = True,
    ) -> None:
        super().__init__()
        if not image_input and not num_classes:
            raise ValueError("a captioner needs an image input, a class input or both")
        self.dropout = dropout
        self.image = nn.Linear(feature_dim, hidden_size) if image_input else None
        self.embed = nn.Embedding(vocab_size, embedding_size, padding_idx=Vocabulary.pad_id)
        self.lstm1 = PackedLSTM(embedding_size, hidden_size)
        self.lstm2 = PackedLSTM(hidden_size, hidden_size)  # its weight_ih: LSTM 1's columns
        self.lstm2_image = (
            nn.Linear(hidden_size, 4 * hidden_size, bias=False) if image_input else None
        )
        self.lstm2_class = nn.Embedding(num_classes, 4 * hidden_size) if num_classes else None
        self.out = nn.Linear(hidden_size, vocab_size)
        self.decoding_graphs = DecodingGraphs()  # CUDA graphs of generate's step, by shape
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The original's initialisation (``nn.LSTM``'s for every LSTM input column)."""
        init_embedding_and_linear(*(m for m in (self.embed, self.image, self.out) if m))
        self.lstm1.reset_parameters()
        self.lstm2.reset_parameters()
        bound = 1.0 / math.sqrt(self.lstm2.hidden_size)
        for extra in (self.lstm2_image, self.lstm2_class):
            if extra is not None:
                nn.init.uniform_(extra.weight, -bound, bound)

    def _drop(self, x: torch.Tensor, dropout: bool) -> torch.Tensor:
        return F.dropout(x, self.dropout, training=self.training and dropout)

    def _dropping(self, dropout: bool) -> bool:
        return self.training and dropout and self.dropout > 0

    def lstm2_input_weights(self) -> list[torch.Tensor]:
        """LSTM 2's input weights, one per block of ``[image vector, class one-hot, LSTM 1
        output]``: the columns of one ``4H x (H + classes + H)`` matrix, never copied into it."""
        parts = [] if self.lstm2_image is None else [self.lstm2_image.weight]
        if self.lstm2_class is not None:
            parts.append(self.lstm2_class.weight.T)
        parts.append(self.lstm2.weight_ih)
        return parts

    def lstm2_weight_ih(self) -> torch.Tensor:
        """LSTM 2's input weights concatenated: the original's single ``weight_ih``."""
        return torch.cat(self.lstm2_input_weights(), dim=1)

    def image_vector(self, features: torch.Tensor, dropout: bool = True) -> torch.Tensor:
        """``dropout(relu(W features + b))``: the image as LSTM 2 reads it, ``[B, H]``."""
        assert self.image is not None, "a model without image input has no image vector"
        return self._drop(F.relu(self.image(features)), dropout)

    def conditioning(self, features: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
        """LSTM 2's per-sentence gate input from the image and/or class, no dropout: ``[B, 4H]``."""
        parts = []
        if self.lstm2_image is not None:
            parts.append(self.lstm2_image(self.image_vector(features, dropout=False)))
        if self.lstm2_class is not None:
            parts.append(self.lstm2_class(class_ids))
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]

    def _lstm2_inputs(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        h1: torch.Tensor,
        rows: torch.Tensor,
        dropout: bool = True,
    ) -> torch.Tensor:
        """Per token ``dropout([image vector, class one-hot, h1])``, a fresh mask per step.

        The image vector is repeated per token with ``index_select``, not ``vector[rows]``:
        the latter's backward scatter-adds on several CPU threads in a varying order, and
        the same seed would not give the same weights twice.
        """
        parts = []
        if self.image is not None:
            parts.append(self.image_vector(features, dropout).index_select(0, rows))
        if self.lstm2_class is not None:
            classes = self.lstm2_class.num_embeddings
            parts.append(F.one_hot(class_ids[rows], classes).to(h1.dtype))
        parts.append(h1)
        return self._drop(torch.cat(parts, dim=1), dropout)

    def token_states(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        dropout: bool = True,
        computed: list[Activations] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced inputs of the output layer for every real token, packed.

        Returns ``(states [N, H], targets [N], rows [N])``: ``self.out(states)`` are the
        tokens' logits, and ``rows`` maps each packed token back to its sentence.
        ``computed``: both LSTMs' activations for these tokens with dropout off, in this
        packed order (:class:`gvetool.nn.sampling_record.SamplingRecord`), so that
        the graph is built without running the LSTMs again.
        """
        if computed is not None and self._dropping(dropout):
            raise ValueError("activations computed elsewhere have no dropout masks")
        order = torch.argsort(lengths, descending=True, stable=True)
        packing = Packing.from_lengths(lengths[order]).to(tokens.device)
        tokens, features, class_ids = tokens[order], features[order], class_ids[order]
        start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)
        first, second = computed or (None, None)
        h1 = self.lstm1(
            self._drop(self.embed(packing.pack(inputs)), dropout), packing, computed=first
        )
        fused = computed is None and execution_for(tokens.device).fused_recurrence
        if self._dropping(dropout) or fused:  # the fused kernel takes no per-sentence offset
            x = self._lstm2_inputs(features, class_ids, h1, packing.rows, dropout)
            h2 = self.lstm2(x, packing, weight_ih=self.lstm2_input_weights())
        else:  # without dropout the image and class inputs are constant over a sentence
            h2 = self.lstm2(h1, packing, self.conditioning(features, class_ids), computed=second)
        return self._drop(h2, dropout), packing.pack(tokens), order[packing.rows]

    def token_nll(
        self, states: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``sum_i weights_i * -log p(targets_i)`` over the output layer, never holding every
        token's logits (:mod:`gvetool.nn.output_loss`)."""
        return output_nll(states, self.out.weight, self.out.bias, targets, weights)

    def sentence_log_probs(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        dropout: bool = True,
    ) -> torch.Tensor:
        """``log p(sentence)`` per row: the sum of its tokens' log-probabilities."""
        states, targets, rows = self.token_states(features, class_ids, tokens, lengths, dropout)
        token_lp = -F.cross_entropy(self.out(states), targets, reduction="none")
        return torch.zeros(len(tokens), device=tokens.device, dtype=token_lp.dtype).index_add(
            0, rows, token_lp
        )

    def caption_loss(self, batch: CaptionBatch) -> torch.Tensor:
        """Token cross-entropy summed over the batch, divided by ``batch.ce_tokens``."""
        states, targets, _ = self.token_states(
            batch.features, batch.class_ids, batch.tokens, batch.lengths
        )
        return self.token_nll(states, targets) / batch.mean_over()

    def loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.caption_loss(batch)
        return loss, {"loss": float(loss.detach())}

    def fixed_shape_states(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        tokens: torch.Tensor,
        dropout: bool = True,
    ) -> torch.Tensor:
        """Teacher-forced inputs of the output layer at every position of a padded batch,
        ``[B, T, H]``: :meth:`token_states`' numbers at the real tokens, every row run for
        all ``T`` steps through the fused recurrence. No packing, so no lengths are read
        back to the host and every shape is the batch tensors' (what a captured training
        step needs). Dropout is drawn over the padded batch, as the original draws it;
        what the layers compute on padding is masked by :meth:`fixed_shape_nll`.
        """
        width = tokens.shape[1]
        start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
        inputs = torch.cat([start, tokens[:, :-1]], dim=1)
        h1 = self.lstm1.padded(self._drop(self.embed(inputs), dropout))
        parts = []
        if self.image is not None:
            parts.append(self.image_vector(features, dropout)[:, None].expand(-1, width, -1))
        if self.lstm2_class is not None:
            onehot = F.one_hot(class_ids, self.lstm2_class.num_embeddings).to(h1.dtype)
            parts.append(onehot[:, None].expand(-1, width, -1))
        x = self._drop(torch.cat([*parts, h1], dim=2), dropout)
        h2 = self.lstm2.padded(x, weight_ih=self.lstm2_input_weights())
        return self._drop(h2, dropout)

    def fixed_shape_nll(
        self,
        states: torch.Tensor,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        row_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sum over each row's real tokens of w_row * -log p(token)`` from
        :meth:`fixed_shape_states`; positions past a row's length weigh 0."""
        rows, width, hidden = states.shape
        dtype = torch.promote_types(self.out.weight.dtype, torch.float32)
        positions = torch.arange(width, device=tokens.device)
        weights = (positions[None, :] < lengths[:, None]).to(dtype)
        if row_weights is not None:
            weights = weights * row_weights[:, None].to(dtype)
        return self.token_nll(
            states.reshape(rows * width, hidden), tokens.reshape(-1), weights.reshape(-1)
        )

    def fixed_shape_caption_loss(
        self, batch: CaptionBatch, mean_over: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`caption_loss` over the padded batch, divided by ``mean_over`` (a tensor on
        the batch's device: ``batch.mean_over()`` kept off the host)."""
        states = self.fixed_shape_states(batch.features, batch.class_ids, batch.tokens)
        return self.fixed_shape_nll(states, batch.tokens, batch.lengths) / mean_over

    def fixed_shape_loss(
        self, batch: CaptionBatch, mean_over: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`loss` with every shape fixed by the batch's tensors and every number left
        on the device, logs included: the step a CUDA graph captures
        (:mod:`gvetool.engine.graphed_step`)."""
        loss = self.fixed_shape_caption_loss(batch, mean_over)
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def fixed_shape_generate(
        self, features: torch.Tensor, class_ids: torch.Tensor, max_len: int, greedy: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`generate`'s sentences as ``(tokens [B, max_len], lengths [B])``, every
        row stepping to ``max_len`` (:func:`decode_every_step`): no host synchronisation."""
        state = self._start_state(self.conditioning(features, class_ids))
        return decode_every_step(self._decode_step, state, max_len, greedy)

    @torch.no_grad()
    def generate(
        self,
        features: torch.Tensor,
        class_ids: torch.Tensor,
        max_len: int = 50,
        greedy: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy or sampled sentences, ``(tokens [B, T], lengths [B])``
        (:mod:`gvetool.nn.decoding`).

        Dropout is off. Where :mod:`gvetool.nn.execution` picks compact sampling (CPU),
        finished sentences are dropped from the computation as they end; else (CUDA) the
        whole batch steps, ended rows masked, replaying a CUDA graph of the step unless a
        ``generator`` is given.
        """
        batch, device = len(features), features.device
        offset = self.conditioning(features, class_ids)
        execution = execution_for(device)
        state = self._start_state(offset)
        if execution.graphed_decoding and generator is None and batch:
            weights = tuple(p.data_ptr() for p in self.parameters())
            return self.decoding_graphs.generate(self._decode_step, state, max_len, greedy, weights)
        return decode(
            self._decode_step,
            _select_rows,
            state,
            batch,
            device,
            max_len,
            greedy,
            generator,
            execution.compact_sampling,
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
        """Beam search, batched over images, in ``generate``'s form (``beam_size=1``: greedy)."""
        offset = self.conditioning(features, class_ids).repeat_interleave(beam_size, 0)
        return search(
            self._decode_step,
            _select_rows,
            self._start_state(offset),
            len(features),
            beam_size,
            features.device,
            max_len,
            length_penalty,
        )

    def _start_state(self, offset: torch.Tensor) -> tuple[Any, ...]:
        rows = len(offset)
        return self.lstm1.zero_state(rows, offset), self.lstm2.zero_state(rows, offset), offset

    def _decode_step(
        self, state: tuple[Any, ...], word: torch.Tensor, keep: Keep | None = None
    ) -> tuple[tuple[Any, ...], torch.Tensor]:
        """One decoding step; ``keep`` (GVE's REINFORCE through sampling) is handed both
        LSTMs' new state and gate activations (:meth:`PackedLSTM.recorded_step`)."""
        state1, state2, offset = state
        (state1, state2), logits = self._step(word, (state1, state2), offset, keep)
        return (state1, state2, offset), logits

    def _step(
        self,
        word: torch.Tensor,
        states: tuple[tuple[torch.Tensor, torch.Tensor], ...],
        offset: torch.Tensor,
        keep: Keep | None = None,
    ) -> tuple[tuple[tuple[torch.Tensor, torch.Tensor], ...], torch.Tensor]:
        """One generation step from the previous words: the new states and the logits."""
        if keep is None:
            state1 = self.lstm1.step(self.embed(word), states[0])
            state2 = self.lstm2.step(state1[0], states[1], offset)
        else:
            state1, gates1 = self.lstm1.recorded_step(self.embed(word), states[0])
            state2, gates2 = self.lstm2.recorded_step(state1[0], states[1], offset)
            keep((state1, gates1), (state2, gates2))
        return (state1, state2), self.out(state2[0])


def _select_rows(state: tuple[Any, ...], rows: torch.Tensor) -> tuple[Any, ...]:
    """Keep (or repeat) rows of a decoding state: both LSTMs' (hidden, cell) and the offset."""
    (h1, c1), (h2, c2), offset = state
    return (h1[rows], c1[rows]), (h2[rows], c2[rows]), offset[rows]


def build_lrcn(shape: ModelShape, options: None) -> Captioner:
    """Model factory of the ``lrcn`` plugin (class labels are not used)."""
    return _build(shape)


def build_explanation_label(shape: ModelShape, options: None) -> Captioner:
    """The paper's explanation-label ablation: image and class input, cross-entropy only."""
    return _build(shape, num_classes=shape.num_classes)


def build_definition(shape: ModelShape, options: None) -> Captioner:
    """The paper's definition model: class input only, no image, cross-entropy only."""
    return _build(shape, num_classes=shape.num_classes, image_input=False)


def _build(shape: ModelShape, **inputs: int | bool) -> Captioner:
    return Captioner(
        shape.vocab_size,
        shape.feature_dim,
        shape.embedding_size,
        shape.hidden_size,
        shape.dropout,
        **inputs,
    )  # type: ignore[arg-type]
