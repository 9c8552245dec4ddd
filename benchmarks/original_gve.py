"""GVE's training step computed the way the original PyTorch code computes it (the baseline).

The original (salaniz/pytorch-gve-lrcn, ``models/gve.py`` and ``train/gve_trainer.py``)
runs the teacher-forced pass through two ``nn.LSTM`` modules (cuDNN on a GPU) over a
packed batch whose LSTM 2 input is the padded concatenation ``[image, one-hot, h1]``, and
computes REINFORCE by sampling step by step through the same modules while building the
graph, asking after every token whether all sentences have ended. This module does the
same, written for the benchmark, with the weights of a :class:`gvetool.builtins.models.gve.GVE`
copied in so both formulations start from the same model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from gvetool.builtins.models.gve import GVE
from gvetool.data.vocab import Vocabulary
from gvetool.kernel.batch import CaptionBatch


def _lstm_like(source_ih: torch.Tensor, lstm) -> nn.LSTM:
    """An ``nn.LSTM`` holding ``lstm``'s recurrent weights and biases and ``source_ih``."""
    hidden = lstm.hidden_size
    module = nn.LSTM(source_ih.shape[1], hidden, batch_first=True)
    with torch.no_grad():
        module.weight_ih_l0.copy_(source_ih)
        module.weight_hh_l0.copy_(lstm.weight_hh)
        module.bias_ih_l0.copy_(lstm.bias_ih)
        module.bias_hh_l0.copy_(lstm.bias_hh)
    return module


class OriginalGVE(nn.Module):
    """The original's modules and computation, initialised from ``model``'s weights."""

    def __init__(self, model: GVE) -> None:
        super().__init__()
        assert model.image is not None and model.lstm2_class is not None
        self.dropout = model.dropout
        self.num_classes = model.lstm2_class.num_embeddings
        self.reinforce_weight = model.reinforce_weight
        self.max_len = model.max_len
        self.word_embed = nn.Embedding.from_pretrained(
            model.embed.weight.detach().clone(), freeze=False, padding_idx=0
        )
        self.linear1 = nn.Linear(model.image.in_features, model.image.out_features)
        self.linear1.load_state_dict(model.image.state_dict())
        self.lstm1 = _lstm_like(model.lstm1.weight_ih.detach(), model.lstm1)
        self.lstm2 = _lstm_like(model.lstm2_weight_ih().detach(), model.lstm2)
        self.linear2 = nn.Linear(model.out.in_features, model.out.out_features)
        self.linear2.load_state_dict(model.out.state_dict())
        # the reward: its frozen sentence classifier (not a submodule: not trained here)
        object.__setattr__(self, "reward_model", model)

    def _image(self, features: torch.Tensor, class_ids: torch.Tensor, drop: bool) -> torch.Tensor:
        image = F.dropout(F.relu(self.linear1(features)), self.dropout, self.training and drop)
        labels = F.one_hot(class_ids, self.num_classes).to(image.dtype)
        return torch.cat([image, labels], dim=1).unsqueeze(1)

    def caption_loss(self, batch: CaptionBatch) -> torch.Tensor:
        """Teacher forcing over the length-sorted, packed batch; token-mean cross-entropy."""
        order = torch.argsort(batch.lengths, descending=True)
        tokens, lengths = batch.tokens[order], batch.lengths[order].cpu()
        start = torch.full_like(tokens[:, :1], Vocabulary.start_id)
        words = self.word_embed(torch.cat([start, tokens[:, :-1]], dim=1))
        words = F.dropout(words, self.dropout, self.training)
        image = self._image(batch.features[order], batch.class_ids[order], drop=True)
        h1, _ = self.lstm1(pack_padded_sequence(words, lengths, batch_first=True))
        h1, _ = pad_packed_sequence(h1, batch_first=True)
        x = torch.cat([image.expand(-1, h1.shape[1], -1), h1], dim=2)
        x = F.dropout(x, self.dropout, self.training)
        h2, _ = self.lstm2(pack_padded_sequence(x, lengths, batch_first=True))
        logits = self.linear2(F.dropout(h2.data, self.dropout, self.training))
        targets = pack_padded_sequence(tokens, lengths, batch_first=True).data
        return F.cross_entropy(logits, targets)

    def reinforce_loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample through the modules with the graph kept, then ``-(R * log p).mean()``."""
        image = self._image(batch.features, batch.class_ids, drop=False)
        count = len(image)
        word = torch.full((count,), Vocabulary.start_id, device=image.device)
        states1 = states2 = None
        ended = torch.zeros(count, dtype=torch.bool, device=image.device)
        lengths = torch.zeros(count, dtype=torch.long, device=image.device)
        log_p, sampled = [], []
        step = 0
        while not bool(ended.all()) and step < self.max_len:  # the host checks every token
            h1, states1 = self.lstm1(self.word_embed(word).unsqueeze(1), states1)
            h2, states2 = self.lstm2(torch.cat([image, h1], dim=2), states2)
            logits = self.linear2(h2.squeeze(1)).float()
            distribution = torch.distributions.Categorical(logits=logits)
            word = distribution.sample()
            active = ~ended
            log_p.append(distribution.log_prob(word) * active)
            lengths += active
            ended = ended | (word == Vocabulary.end_id)
            sampled.append(word)
            step += 1
        tokens = torch.stack(sampled, dim=1)
        tokens[torch.arange(tokens.shape[1], device=tokens.device) >= lengths[:, None]] = 0
        reward = self.reward_model.reward(tokens, lengths, batch.class_ids)
        return -(reward * torch.stack(log_p, dim=1).sum(1)).mean(), lengths

    def step_loss(self, batch: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole loss of a step and the sampled lengths."""
        reinforce, lengths = self.reinforce_loss(batch)
        return self.caption_loss(batch) + self.reinforce_weight * reinforce, lengths
