"""GVE, "Generating Visual Explanations" (Hendricks et al., ECCV 2016).

An LRCN whose second LSTM also receives the class label, trained with

    loss = cross-entropy + lambda * REINFORCE

where REINFORCE rewards a sentence sampled from the model (up to ``max_len`` tokens) with
the probability that a frozen sentence classifier assigns to the true class: explanations
should be both image-relevant (cross-entropy) and class-discriminative (reward).

How the REINFORCE term is computed, and why it is exact: sampling draws one sentence per
row with dropout off, finished sentences dropped as they end. On a CPU (the execution
policy's choice) both LSTMs' activations are kept as it samples, re-laid in the packed
order of a teacher-forced pass over the samples, and the term is backpropagated through
them with the packed layers' own backward (:mod:`gvetool.nn.sampling_record`): the
LSTMs run forward once. Otherwise (CUDA, or ``reinforce_tokens`` given) the sampled
sentences are re-scored in packed teacher-forced passes, dropout off, over groups of rows
of at most ``reinforce_tokens`` sampled tokens, each group backpropagated before the next
is built, so memory stays bounded while an untrained model rambles to ``max_len``. Either
way ``-(R - b) * log p(sample)`` is differentiated over the distribution that was sampled,
with no work after a sentence's end: both are tested equal to differentiating through the
plain sampling loop (``tests/reference.py``) and to each other.

Baselines ``b``: ``none`` (the paper), ``mean`` (the batch's mean reward) or ``greedy``
(the reward of the greedy sentence: self-critical training).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from gvetool.builtins.models.captioner import Captioner, _select_rows
from gvetool.kernel.batch import CaptionBatch
from gvetool.kernel.specs import ModelShape
from gvetool.nn.decoding import decode
from gvetool.nn.execution import execution_for
from gvetool.nn.reinforce_options import ReinforceOptions
from gvetool.nn.reward import SentenceClassifierReward
from gvetool.nn.sampling_record import SamplingRecord


@dataclass(frozen=True)
class Samples:
    """Sentences sampled for REINFORCE (one per row) and their advantages ``R - b``."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    reward: torch.Tensor
    advantage: torch.Tensor


@dataclass(frozen=True)
class ReinforcePart:
    """The REINFORCE term of some rows of a batch (a loss term of its own)."""

    samples: Samples
    rows: torch.Tensor
    # all rows' activations, kept by the sampling pass (REINFORCE through sampling)
    kept: SamplingRecord | None = None


def _whole(samples: Samples, kept: SamplingRecord | None = None) -> ReinforcePart:
    """The REINFORCE term of every row of the batch as one part."""
    rows = torch.arange(len(samples.lengths), device=samples.lengths.device)
    return ReinforcePart(samples, rows, kept)


class GVE(SentenceClassifierReward, Captioner):
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
        reinforce_tokens: int | None = None,
        class_input: bool = True,
        reward_dropout_from: int | None = None,
    ) -> None:
        inputs = num_classes if class_input else 0  # the reward needs classes either way
        super().__init__(vocab_size, feature_dim, embedding_size, hidden_size, dropout, inputs)
        self.reinforce_weight = reinforce_weight
        self.baseline = baseline
        self.max_len = max_len
        # per backward pass; 0: the whole batch; None: the device's default (execution.py)
        self.reinforce_tokens = reinforce_tokens
        self.reward_dropout_from = reward_dropout_from

    @torch.no_grad()
    def sample_for_reinforce(self, batch: CaptionBatch) -> Samples:
        """Sample one sentence per row (no graph), score it, subtract the baseline."""
        tokens, lengths = self.generate(batch.features, batch.class_ids, self.max_len, greedy=False)
        return self._scored(batch, tokens, lengths)

    @torch.no_grad()
    def _scored(
        self,
        batch: CaptionBatch,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        fixed_shape: bool = False,
    ) -> Samples:
        """The samples with their rewards and advantages ``R - b`` (``fixed_shape``: with
        no host synchronisation, as :meth:`fixed_shape_loss` needs)."""
        features, class_ids = batch.features, batch.class_ids
        score = functools.partial(self.reward, fixed_shape=True) if fixed_shape else self.reward
        reward = score(tokens, lengths, class_ids)
        if self.baseline == "mean":
            baseline = reward.mean()
        elif self.baseline == "greedy":
            decode = self.fixed_shape_generate if fixed_shape else self.generate
            greedy, greedy_lengths = decode(features, class_ids, self.max_len, greedy=True)
            baseline = score(greedy, greedy_lengths, class_ids)
        else:
            baseline = torch.zeros_like(reward)
        return Samples(tokens, lengths, reward, reward - baseline)

    def sample_keeping_activations(
        self, batch: CaptionBatch
    ) -> tuple[Samples, SamplingRecord | None]:
        """The samples of :meth:`sample_for_reinforce` (the same compact loop, the same
        random numbers) with both LSTMs' activations kept step by step, or ``None`` for
        them where the pass ran past the execution policy's ``kept_length``."""
        features, class_ids = batch.features, batch.class_ids
        rows_total, device = len(features), features.device
        record = SamplingRecord(layers=2, capacity=self._kept_tokens(rows_total, device))

        def step(
            state: tuple[Any, ...], word: torch.Tensor
        ) -> tuple[tuple[Any, ...], torch.Tensor]:
            *recurrent, rows = state
            recurrent, logits = self._decode_step(
                tuple(recurrent), word, lambda *layers: record.add(rows, *layers)
            )
            return (*recurrent, rows), logits

        with torch.no_grad():
            start = (
                *self._start_state(self.conditioning(features, class_ids)),
                torch.arange(rows_total, device=device),
            )
            tokens, lengths = decode(
                step, _select_with_rows, start, rows_total, device, self.max_len, greedy=False
            )
        return self._scored(batch, tokens, lengths), None if record.overflowed else record

    def reinforce_through_sampling(self, batch: CaptionBatch) -> tuple[torch.Tensor, Samples]:
        """The REINFORCE term backpropagated through the sampling pass's own activations.

        Kept by :meth:`sample_keeping_activations` and re-laid in the packed order
        (:mod:`gvetool.nn.sampling_record`) that re-scoring's teacher-forced pass
        would compute them in, dropout off in both: the loss is re-scoring's, its graph
        built around the kept activations, so the packed layers' hand-written backward
        applies and the LSTMs run forward once. The output layer's softmax is recomputed
        chunk by chunk by the fused output loss rather than kept. Tested equal, value and
        gradients, to re-scoring and to differentiating through the plain sampling loop.
        A pass that ran past ``kept_length`` is re-scored.
        """
        samples, record = self.sample_keeping_activations(batch)
        return self.reinforce_part_loss(batch, _whole(samples, record)), samples

    def _kept_tokens(self, rows: int, device: torch.device) -> int:
        """The most sampled tokens whose activations REINFORCE keeps (or re-scores at once
        when it could not keep them): ``rows`` x the policy's ``kept_length``."""
        kept_length = execution_for(device).kept_length or self.max_len
        return rows * min(kept_length, self.max_len)

    def reinforce_parts(self, samples: Samples, budget: int | None = None) -> list[ReinforcePart]:
        """The batch's rows in groups of at most ``budget`` sampled tokens (by default
        ``reinforce_tokens``, else the execution policy's ``rescoring_tokens``).

        An untrained model rambles to ``max_len`` tokens, so scoring a whole batch's
        samples in one pass would hold up to ``batch x max_len`` tokens of activations;
        groups scored and backpropagated one after another bound that memory. The loss is
        a sum over rows, so the gradient does not depend on the grouping.
        """
        lengths = samples.lengths.cpu()
        order = torch.argsort(lengths, descending=True, stable=True)
        budget = self.reinforce_tokens if budget is None else budget
        if budget is None:
            budget = execution_for(samples.lengths.device).rescoring_tokens
        budget = budget or int(lengths.sum())
        groups: list[list[int]] = [[]]
        used = 0
        for row, length in zip(order.tolist(), lengths[order].tolist(), strict=True):
            if groups[-1] and used + length > budget:
                groups.append([])
                used = 0
            groups[-1].append(row)
            used += length
        device = samples.lengths.device
        return [ReinforcePart(samples, torch.tensor(g, device=device)) for g in groups]

    def reinforce_part_loss(self, batch: CaptionBatch, part: ReinforcePart) -> torch.Tensor:
        """``-(1/B) * sum over the part's rows of (R - b) * log p(sample)``.

        Computed as ``sum over tokens of (R - b) / B * -log p(token)``, the same sum
        regrouped, so the output layer's fused loss applies (:meth:`token_nll`).
        A part with ``kept`` activations (all rows) builds its graph around them.
        """
        rows, samples = part.rows, part.samples
        computed = None if part.kept is None else part.kept.packed(samples.lengths)
        states, targets, token_rows = self.token_states(
            batch.features[rows],
            batch.class_ids[rows],
            samples.tokens[rows],
            samples.lengths[rows],
            dropout=False,
            computed=computed,
        )
        weights = samples.advantage[rows] / len(samples.lengths)
        return self.token_nll(states, targets, weights[token_rows])

    def reinforce_loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(-(R - b) * log p(sample)).mean()`` over the batch, and the rewards ``R``."""
        if self._through_sampling(batch):
            loss, samples = self.reinforce_through_sampling(batch)
            return loss, samples.reward
        samples = self.sample_for_reinforce(batch)
        return self.reinforce_part_loss(batch, _whole(samples)), samples.reward

    def loss_terms(self, batch: CaptionBatch) -> list[str | ReinforcePart]:
        """Cross-entropy, then REINFORCE: one term built around the activations the
        sampling pass kept, where the execution policy says so and the pass kept them, or
        else the samples re-scored in groups of rows. The sentences are sampled here,
        once, before either term, so the random numbers, and with them the run, are the
        same either way. Each term is backpropagated before the next is built, so the two
        never hold their graphs at the same time; the cross-entropy pass goes first, while
        no gradient is allocated yet, and holds only what sampling kept (less than the
        gradients it would otherwise run beside)."""
        if not self._through_sampling(batch):
            return ["cross_entropy", *self.reinforce_parts(self.sample_for_reinforce(batch))]
        samples, record = self.sample_keeping_activations(batch)
        if record is None:  # re-scored in groups as large as what could have been kept
            budget = self._kept_tokens(len(samples.lengths), samples.lengths.device)
            return ["cross_entropy", *self.reinforce_parts(samples, budget)]
        return ["cross_entropy", _whole(samples, record)]

    def _through_sampling(self, batch: CaptionBatch) -> bool:
        """Whether REINFORCE goes through the sampling pass: where the execution policy
        says so, unless ``reinforce_tokens`` asks for re-scoring in bounded groups."""
        execution = execution_for(batch.features.device)
        chosen = execution.reinforce_through_sampling and execution.compact_sampling
        return chosen and self.reinforce_tokens is None

    def fixed_shape_loss(
        self, batch: CaptionBatch, mean_over: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`loss` with every shape fixed by the batch's tensors and ``max_len`` and
        every number left on the device, logs included: the step a CUDA graph captures
        (:mod:`gvetool.engine.graphed_step`).

        The same terms from the same weights: every row samples for all ``max_len``
        steps (ended rows masked, :func:`decode_every_step`), the classifier reads the
        padded samples up to their lengths, and REINFORCE re-scores them over their padded
        width, dropout off, positions past a sentence's end weighing 0; the cross-entropy
        runs over the padded batch. Tested equal, value and gradients, to :meth:`loss` on
        the same samples. Sampling runs first, as in :meth:`loss_terms`.
        """
        features, class_ids = batch.features, batch.class_ids
        tokens, lengths = self.fixed_shape_generate(features, class_ids, self.max_len, False)
        samples = self._scored(batch, tokens, lengths, fixed_shape=True)
        cross_entropy = self.fixed_shape_caption_loss(batch, mean_over)
        return self._with_fixed_shape_reinforce(batch, samples, cross_entropy)

    def _with_fixed_shape_reinforce(
        self, batch: CaptionBatch, samples: Samples, cross_entropy: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``cross_entropy + lambda * REINFORCE`` of ``samples``, re-scored over their
        padded width, and the step's logs as device tensors."""
        states = self.fixed_shape_states(
            batch.features, batch.class_ids, samples.tokens, dropout=False
        )
        weights = samples.advantage / len(samples.lengths)
        reinforce = self.fixed_shape_nll(states, samples.tokens, samples.lengths, weights)
        loss = cross_entropy + self.reinforce_weight * reinforce
        logs = {
            "loss": loss.detach(),
            "ce": cross_entropy.detach(),
            "reward": samples.reward.mean(),
        }
        return loss, logs

    def loss(
        self, batch: CaptionBatch, term: str | ReinforcePart | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The whole loss, or one of ``loss_terms(batch)``.

        The trainer backpropagates the terms one at a time
        (:func:`gvetool.engine.trainer.backward_terms`): the teacher-forced pass and the
        REINFORCE passes never hold their activations at the same time.
        """
        if term == "cross_entropy":
            cross_entropy = self.caption_loss(batch)
            value = float(cross_entropy.detach())
            return cross_entropy, {"loss": value, "ce": value}
        if isinstance(term, ReinforcePart):
            part = self.reinforce_weight * self.reinforce_part_loss(batch, term)
            return part, {"loss": float(part.detach()), "reward": float(term.samples.reward.mean())}
        if term is not None:
            raise ValueError(f"unknown loss term {term!r}")
        cross_entropy = self.caption_loss(batch)
        reinforce, reward = self.reinforce_loss(batch)
        loss = cross_entropy + self.reinforce_weight * reinforce
        logs = {"loss": loss, "ce": cross_entropy, "reward": reward.mean()}
        return loss, {key: float(value.detach()) for key, value in logs.items()}


def build_gve(shape: ModelShape, options: ReinforceOptions, class_input: bool = True) -> GVE:
    """Model factory of the ``gve`` plugin."""
    return GVE(
        shape.vocab_size,
        shape.feature_dim,
        shape.num_classes,
        shape.embedding_size,
        shape.hidden_size,
        shape.dropout,
        options.reinforce_weight,
        options.baseline,
        shape.max_len,
        options.reinforce_tokens,
        class_input,
        options.reward_dropout_from,
    )


def build_explanation_discriminative(shape: ModelShape, options: ReinforceOptions) -> GVE:
    """The paper's explanation-discriminative ablation: GVE's REINFORCE, no class input."""
    return build_gve(shape, options, class_input=False)


def _select_with_rows(state: tuple[Any, ...], keep: torch.Tensor) -> tuple[Any, ...]:
    """Keep rows of a decoding state that also carries each row's index in the batch."""
    *recurrent, rows = state
    return (*_select_rows(tuple(recurrent), keep), rows[keep])
