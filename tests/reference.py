"""The straightforward GVE formulation, kept as the executable specification.

This is how the original code computes GVE: the image vector and one-hot label
concatenated to LSTM 1's output at every step of a padded batch (dropout over that
concatenation with a fresh mask per step), the token cross-entropy averaged over all real
tokens, and REINFORCE computed by differentiating through the step-by-step sampling loop
(every row runs until the last sentence ends). It shares the parameters of a
:class:`~gvetool.builtins.models.gve.GVE` so the fast path can be checked against it
(``tests/test_models.py``); ``benchmarks/original_gve.py`` times the original's own way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gvetool.builtins.models.gve import GVE
from gvetool.data.vocab import Vocabulary
from gvetool.nn.lstm import lstm_cell


def _lstm2_bias(model: GVE) -> torch.Tensor:
    return model.lstm2.bias_ih + model.lstm2.bias_hh


def _step_inputs(
    model: GVE, features: torch.Tensor, class_ids: torch.Tensor, dropout: bool
) -> torch.Tensor:
    image = model.image_vector(features, dropout)
    if model.lstm2_class is None:
        return image
    onehot = F.one_hot(class_ids, model.lstm2_class.num_embeddings).to(image.dtype)
    return torch.cat([image, onehot], dim=1)


def naive_caption_loss(
    model: GVE, features, class_ids, tokens, lengths, dropout: bool = True
) -> torch.Tensor:
    """Teacher-forced cross-entropy over the padded batch, concatenating at every step."""
    batch, width = tokens.shape
    drop = model.training and dropout
    weight = model.lstm2_weight_ih()
    constant = _step_inputs(model, features, class_ids, dropout)
    start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
    inputs = F.dropout(model.embed(torch.cat([start, tokens[:, :-1]], dim=1)), model.dropout, drop)
    h1 = c1 = h2 = c2 = features.new_zeros(batch, model.lstm1.hidden_size)
    total = features.new_zeros(batch)
    for t in range(width):
        h1, c1 = model.lstm1.step(inputs[:, t], (h1, c1))
        x = F.dropout(torch.cat([constant, h1], dim=1), model.dropout, drop)
        gates = F.linear(x, weight, _lstm2_bias(model))
        h2, c2 = lstm_cell(gates + h2 @ model.lstm2.weight_hh.T, c2)
        logits = model.out(F.dropout(h2, model.dropout, drop))
        nll = F.cross_entropy(logits, tokens[:, t], reduction="none")
        total = total + nll * (t < lengths).to(nll.dtype)
    return total.sum() / lengths.sum()


def naive_reinforce_loss(
    model: GVE,
    features: torch.Tensor,
    class_ids: torch.Tensor,
    max_len: int,
    forced: torch.Tensor | None = None,
    baseline: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """REINFORCE through the sampling loop (dropout off, as the fast path).

    ``forced`` replays given sentences instead of sampling, so both formulations can be
    compared on the same samples. Returns ``(loss, tokens, lengths)``.
    """
    batch = len(features)
    weight = model.lstm2_weight_ih()
    constant = _step_inputs(model, features, class_ids, dropout=False)
    h1 = c1 = h2 = c2 = features.new_zeros(batch, model.lstm1.hidden_size)
    word = torch.full((batch,), Vocabulary.start_id, dtype=torch.long, device=features.device)
    running = torch.ones(batch, dtype=torch.bool, device=features.device)
    lengths = torch.full((batch,), max_len, dtype=torch.long, device=features.device)
    log_p = features.new_zeros(batch)
    sampled = []
    for t in range(max_len):
        h1, c1 = model.lstm1.step(model.embed(word), (h1, c1))
        gates = F.linear(torch.cat([constant, h1], dim=1), weight, _lstm2_bias(model))
        h2, c2 = lstm_cell(gates + h2 @ model.lstm2.weight_hh.T, c2)
        token_lp = torch.log_softmax(model.out(h2), dim=1)
        if forced is not None:
            word = forced[:, t] if t < forced.shape[1] else torch.zeros_like(word)
        else:
            word = torch.multinomial(token_lp.exp().detach(), 1).squeeze(1)
        log_p = log_p + token_lp.gather(1, word[:, None]).squeeze(1) * running.to(log_p.dtype)
        sampled.append(torch.where(running, word, torch.zeros_like(word)))
        ended = running & (word == Vocabulary.end_id)
        lengths[ended] = t + 1
        running = running & ~ended
        if not bool(running.any()):
            break
    tokens = torch.stack(sampled, dim=1)
    reward = model.reward(tokens, lengths, class_ids)
    return -((reward - baseline) * log_p).mean(), tokens, lengths
