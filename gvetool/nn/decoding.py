"""Sentence decoding for any captioner: greedy or sampled sentences, and beam search.

A captioner supplies a ``step(state, words) -> (state, logits)`` that reads the previous
words of every row and returns next-word logits, and a ``select(state, rows)`` that keeps
(or repeats) rows of its state. The loops here do the rest, the same way for the built-in
LSTMs and for a plugin's model (a Transformer's state is its prefix and memory).

Output form (the contract of :class:`gvetool.kernel.contracts.CaptioningModel`): ``(tokens [B,
T], lengths [B])``, tokens including the end token when one was produced (a sentence cut
at ``max_len`` has none), 0 after a sentence's end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gvetool.data.vocab import Vocabulary
from gvetool.nn.execution import SYNC_EVERY
from gvetool.nn.sampling import draw_words

Step = Callable[[Any, torch.Tensor], tuple[Any, torch.Tensor]]
Select = Callable[[Any, torch.Tensor], Any]


def decode(
    step: Step,
    select: Select,
    state: Any,
    batch: int,
    device: torch.device,
    max_len: int,
    greedy: bool = True,
    generator: torch.Generator | None = None,
    compact: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy (argmax) or sampled sentences for ``batch`` rows starting from ``state``.

    ``compact``: rows are dropped from the state as their sentences end (less work where
    work scales with rows, as on a CPU); else every row keeps stepping, ended rows masked,
    and the host checks for the end only every ``SYNC_EVERY`` steps (no per-token sync).
    """
    word = torch.full((batch,), Vocabulary.start_id, dtype=torch.long, device=device)
    tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)
    lengths = torch.full((batch,), max_len, dtype=torch.long, device=device)
    active = torch.arange(batch, device=device)
    running = torch.ones(batch, dtype=torch.bool, device=device)
    for t in range(max_len):
        state, logits = step(state, word)
        word = logits.argmax(dim=1) if greedy else draw_words(logits, generator)
        if compact:
            tokens[active, t] = word
            ended = word == Vocabulary.end_id
            lengths[active[ended]] = t + 1
            if bool(ended.all()):
                break
            keep = ~ended
            active, word, state = active[keep], word[keep], select(state, keep)
        else:
            word = word.masked_fill(~running, 0)  # ended rows read padding, write 0
            tokens[:, t] = word
            ended = running & (word == Vocabulary.end_id)
            lengths.masked_fill_(ended, t + 1)
            running &= ~ended
            if (t + 1) % SYNC_EVERY == 0 and not bool(running.any()):
                break
    width = int(lengths.max()) if batch else 0
    return tokens[:, :width], lengths


def beam_search(
    step: Step,
    select: Select,
    state: Any,
    batch: int,
    beam_size: int,
    device: torch.device,
    max_len: int,
    length_penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search batched over images; ``state`` holds ``beam_size`` rows per image.

    Finished sentences are ranked by ``log p / length ** length_penalty`` (0: plain log
    probability, the usual choice for captioning; 1: per-token average).
    """
    k = beam_size
    word = torch.full((batch * k,), Vocabulary.start_id, dtype=torch.long, device=device)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start as the same empty sentence: keep one
    history = torch.zeros(batch, k, 0, dtype=torch.long, device=device)
    best_score = torch.full((batch,), float("-inf"), device=device)
    best_tokens = torch.zeros(batch, max_len, dtype=torch.long, device=device)
    best_length = torch.zeros(batch, dtype=torch.long, device=device)
    rows = torch.arange(batch, device=device)
    for t in range(max_len):
        state, logits = step(state, word)
        log_p = torch.log_softmax(logits.float(), dim=1)
        vocab = log_p.shape[1]
        candidates = (scores.reshape(-1, 1) + log_p).reshape(batch, k * vocab)
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
        beam, token = top_index // vocab, top_index % vocab
        ended = (token == Vocabulary.end_id) | (t == max_len - 1)
        normalised = top_scores / float(t + 1) ** length_penalty
        finished = torch.where(ended, normalised, torch.full_like(normalised, float("-inf")))
        best_here, which = finished.max(dim=1)
        better = best_here > best_score
        if bool(better.any()):
            chosen_beam = beam[rows, which]
            sentence = torch.cat([history[rows, chosen_beam], token[rows, which][:, None]], dim=1)
            best_tokens[better, : t + 1] = sentence[better]
            best_tokens[better, t + 1 :] = 0
            best_length[better] = t + 1
            best_score[better] = best_here[better]
        alive = torch.where(ended, torch.full_like(top_scores, float("-inf")), top_scores)
        scores, keep = alive.topk(k, dim=1)
        beam, token = beam.gather(1, keep), token.gather(1, keep)
        if length_penalty == 0 and bool((scores.max(dim=1).values <= best_score).all()):
            break  # log-probabilities only fall: no open beam can win any more
        state = select(state, (rows[:, None] * k + beam).reshape(-1))
        history = torch.cat(
            [history.gather(1, beam[:, :, None].expand_as(history)), token[:, :, None]], dim=2
        )
        word = token.reshape(-1)
    width = int(best_length.max()) if batch else 0
    return best_tokens[:, :width], best_length
