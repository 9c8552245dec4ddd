"""The toy plugin's models: the smallest captioner that meets gvetool's contract, and one
that does not (to show the refusal). Imported only when a model is built (torch is heavy)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gvetool.data.vocab import Vocabulary


class UnigramCaptioner(nn.Module):
    """Every word of a caption predicted from the image alone; says one word, then ends."""

    def __init__(self, vocab_size: int, feature_dim: int, bias: bool) -> None:
        super().__init__()
        self.out = nn.Linear(feature_dim, vocab_size, bias=bias)

    def loss(self, batch):
        log_p = F.log_softmax(self.out(batch.features), dim=1)
        real = torch.arange(batch.tokens.shape[1])[None, :] < batch.lengths[:, None]
        picked = log_p.gather(1, batch.tokens)[real.to(batch.tokens.device)]
        loss = -picked.sum() / batch.mean_over()
        return loss, {"loss": float(loss.detach())}

    @torch.no_grad()
    def generate(self, features, class_ids, max_len=50, greedy=True, generator=None):
        logits = self.out(features)
        logits[:, Vocabulary.end_id] = float("-inf")  # one real word first
        if greedy:
            words = logits.argmax(1)
        else:
            words = torch.multinomial(logits.softmax(1), 1, generator=generator).squeeze(1)
        ends = torch.full_like(words, Vocabulary.end_id)
        tokens = torch.stack([words, ends], dim=1)[:, :max_len]
        return tokens, torch.full_like(words, tokens.shape[1])

    def beam_search(self, features, class_ids, beam_size=3, max_len=50, length_penalty=0.0):
        return self.generate(features, class_ids, max_len)


class WithoutBeamSearch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(1, 1)

    def loss(self, batch):
        raise NotImplementedError

    def generate(self, features, class_ids, max_len=50, greedy=True, generator=None):
        raise NotImplementedError


def build_unigram(shape, options):
    return UnigramCaptioner(shape.vocab_size, shape.feature_dim, options.bias)


def build_broken(shape, options):
    return WithoutBeamSearch()
