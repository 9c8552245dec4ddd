"""The original's LRCN and GVE against gvetool's, its own code run beside gvetool's.

    python benchmarks/original_lockstep.py --work /tmp/gvetool-peer [--dataset moths]
        [--steps 30] [--size 64] [--draws 300]

Run after ``benchmarks/original_peer.py`` (same ``--work``): it uses the copy of the
original made there (its ``models/lrcn.py``, imported from ``--work``, never from the
project tree), the dataset in the original's files (its tokens and vocabulary pickles,
its feature dictionary) and the original's trained checkpoints. Four checks that separate
what the models compute from what their random draws happen to be:

* **training**: an original ``LRCN`` (then ``GVE``, on its cross-entropy: REINFORCE draws
  words at random, which two codes never draw alike) and a gvetool captioner start from
  the same weights (copied across, the vocabulary ids being the original's), dropout off,
  and take
  ``--steps`` Adam steps on the same random batches of the original's training captions
  (its own ``nn.CrossEntropyLoss`` over its packed targets, ``torch.optim.Adam``; gvetool's
  ``loss`` and its Adam). Prints both losses and the largest parameter difference;
* **dropout**: with dropout 0.5, the mean gradient over ``--draws`` masks on one batch,
  same weights: equal (within the draws' noise) where both drop the same activations at
  the same rate and scale;
* **REINFORCE**: its term alone (dropout off, a briefly trained gvetool sentence classifier
  copied into the original's), the mean gradient over ``--draws`` sampled batches: the
  original's ``-(sum log p(sample) * R).sum() / B`` against gvetool's estimator;
* **decoding**: each seed's best original LRCN and GVE checkpoints, their weights loaded
  into a gvetool captioner, describe the test images with gvetool's greedy decoder (GVE
  explaining each image's true class); prints how many sentences are the original's own,
  word for word.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from gvetool.builtins.models.captioner import Captioner
from gvetool.data.vocab import SPECIALS, Vocabulary
from gvetool.engine.adam import Adam
from gvetool.kernel.batch import CaptionBatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gvetool-peer"))
    parser.add_argument("--dataset", default="moths")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=64, help="embedding and hidden size")
    parser.add_argument("--draws", type=int, default=300, help="dropout masks per code")
    args = parser.parse_args()
    work = args.work / args.dataset
    sys.path.insert(0, str(work / "original"))  # the original's modules, from its copy
    data = work / "data" / args.dataset / "cub"
    original_vocab = _unpickle(data / "cub_vocab.pkl")
    features = _unpickle(data / "CUB_feature_dict.p")
    labels = _unpickle(data / "CUB_label_dict.p")
    for gve in (False, True):
        lockstep(Pair(data, original_vocab, features, labels, args.size, gve, 0.0), args.steps)
    for gve in (False, True):
        pair = Pair(data, original_vocab, features, labels, args.size, gve, 0.5)
        expected_gradients(pair, args.draws)
    pair = Pair(data, original_vocab, features, labels, args.size, True, 0.0)
    expected_reinforce(pair, args.draws)
    for model in ("lrcn", "gve"):
        for done in sorted(
            (work / "runs" / args.dataset).glob(f"seed*/original/{model}/done.json")
        ):
            decode_original(done, original_vocab, features, labels, model)


def _unpickle(path: Path) -> Any:
    """The original's own pickles, written by its code on this machine (trusted here)."""
    with path.open("rb") as f:
        return pickle.load(f, encoding="latin1")


def _copy_into_original(ours: Captioner, original: nn.Module) -> None:
    with torch.no_grad():
        original.word_embed.weight.copy_(ours.embed.weight)
        original.linear1.weight.copy_(ours.image.weight)
        original.linear1.bias.copy_(ours.image.bias)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(original.lstm1, f"{name}_l0").copy_(getattr(ours.lstm1, name))
        # LSTM 2 reads [image vector, class one-hot (GVE), LSTM 1 output] in both.
        original.lstm2.weight_ih_l0.copy_(ours.lstm2_weight_ih())
        for name in ("weight_hh", "bias_ih", "bias_hh"):
            getattr(original.lstm2, f"{name}_l0").copy_(getattr(ours.lstm2, name))
        original.linear2.weight.copy_(ours.out.weight)
        original.linear2.bias.copy_(ours.out.bias)


def _copy_from_original(state: dict[str, torch.Tensor], ours: Captioner) -> None:
    hidden = ours.lstm2.hidden_size
    classes = 0 if ours.lstm2_class is None else ours.lstm2_class.num_embeddings
    with torch.no_grad():
        ours.embed.weight.copy_(state["word_embed.weight"])
        ours.image.weight.copy_(state["linear1.weight"])
        ours.image.bias.copy_(state["linear1.bias"])
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ours.lstm1, name).copy_(state[f"lstm1.{name}_l0"])
        ours.lstm2_image.weight.copy_(state["lstm2.weight_ih_l0"][:, :hidden])
        if classes:
            ours.lstm2_class.weight.copy_(
                state["lstm2.weight_ih_l0"][:, hidden : hidden + classes].T
            )
        ours.lstm2.weight_ih.copy_(state["lstm2.weight_ih_l0"][:, hidden + classes :])
        for name in ("weight_hh", "bias_ih", "bias_hh"):
            getattr(ours.lstm2, name).copy_(state[f"lstm2.{name}_l0"])
        ours.out.weight.copy_(state["linear2.weight"])
        ours.out.bias.copy_(state["linear2.bias"])


class Pair:
    """An original model and a gvetool captioner with the same weights, and batches of the
    original's training captions in both forms."""

    def __init__(
        self,
        data: Path,
        vocab: Any,
        features: dict,
        labels: dict,
        size: int,
        gve: bool,
        dropout: float,
    ) -> None:
        from models.gve import GVE  # the original's classes, from its copy under --work
        from models.lrcn import LRCN

        self.tokens = _unpickle(data / "cub_tokens_train.pkl")
        annotations = json.loads((data / "descriptions_bird.train.fg.json").read_text())
        self.image_of = {a["id"]: a["image_id"] for a in annotations["annotations"]}
        self.vocab, self.features, self.labels, self.gve = vocab, features, labels, gve
        torch.manual_seed(0)
        words, dim = len(vocab.word2idx), len(next(iter(features.values())))
        self.classes = len(set(labels.values())) if gve else 0
        self.shape = (words, dim, size, size)
        self.ours = Captioner(*self.shape, dropout=dropout, num_classes=self.classes)
        self.original = (
            GVE(dim, size, size, words, None, self.classes, dropout_prob=dropout)
            if gve
            else LRCN(dim, size, size, words, dropout_prob=dropout)
        )
        _copy_into_original(self.ours, self.original)
        self.ours.train()
        self.original.train()

    def batch(self, rng: np.random.Generator, size: int) -> tuple[CaptionBatch, tuple]:
        """``size`` random captions: gvetool's batch, and the original's model arguments
        (sorted by length, <SOS> first) with its packed targets last."""
        keys = list(self.tokens)
        chosen = [keys[i] for i in rng.choice(len(keys), size, replace=False)]
        end, start = self.vocab(self.vocab.end_token), self.vocab(self.vocab.start_token)
        sentences = [[self.vocab(w) for w in self.tokens[k]] + [end] for k in chosen]
        images = [self.image_of[k] for k in chosen]
        x = torch.tensor(np.stack([self.features[i] for i in images]), dtype=torch.float32)
        lengths = torch.tensor([len(s) for s in sentences])
        padded = torch.zeros(size, int(lengths.max()), dtype=torch.long)
        for row, sentence in enumerate(sentences):
            padded[row, : len(sentence)] = torch.tensor(sentence)
        class_ids = torch.tensor([int(self.labels[i]) - 1 for i in images])
        order = torch.argsort(lengths, descending=True, stable=True)
        inputs = torch.cat([torch.full((size, 1), start), padded[order][:, :-1]], dim=1)
        targets = pack_padded_sequence(padded[order], lengths[order].tolist(), batch_first=True)
        extra = (class_ids[order],) if self.gve else ()
        original = (x[order], inputs, lengths[order].tolist(), *extra, targets[0])
        return CaptionBatch(x, padded, lengths, class_ids, torch.arange(size)), original

    def losses(self, batch: CaptionBatch, original: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """Both losses, each model's gradients computed."""
        self.ours.zero_grad()
        ours, _ = self.ours.loss(batch)
        ours.backward()
        self.original.zero_grad()
        theirs = nn.CrossEntropyLoss()(self.original(*original[:-1]), original[-1])
        theirs.backward()
        return theirs, ours

    def in_our_layout(self, tensors: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The original's parameters (or their gradients), named as in its state dict, laid
        out as gvetool's parameters."""
        copy = Captioner(*self.shape, num_classes=self.classes)
        _copy_from_original(tensors, copy)
        return [p.detach() for p in copy.parameters()]


def lockstep(pair: Pair, steps: int) -> None:
    """Adam steps on the same batches, dropout off: the same weights after each?"""
    ours_adam = Adam(list(pair.ours.parameters()), lr=1e-3)
    original_adam = torch.optim.Adam(pair.original.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    what = "GVE's cross-entropy" if pair.gve else "LRCN"
    print(f"{what} in lockstep, dropout off: step, original loss, gvetool loss, max |dW|")
    for step in range(steps):
        theirs, ours = pair.losses(*pair.batch(rng, 128))
        ours_adam.step()
        original_adam.step()
        theirs_now = pair.in_our_layout(pair.original.state_dict())
        pairs = zip(theirs_now, pair.ours.parameters(), strict=True)
        difference = max(float((a - b.detach()).abs().max()) for a, b in pairs)
        if step < 3 or (step + 1) % 10 == 0:
            print(f"  {step + 1:3d}  {theirs.item():.6f}  {ours.item():.6f}  {difference:.1e}")


def expected_gradients(pair: Pair, draws: int) -> None:
    """Dropout on: the mean gradient over ``draws`` masks on one batch, both codes. Where
    dropout sits and how it scales decide that mean; the draws' own noise is measured by
    z = difference / its standard error (about 0.8 on average for two equal means)."""
    batch, original = pair.batch(np.random.default_rng(1), 32)
    names = [name for name, _ in pair.original.named_parameters()]
    ours_grads, their_grads = [], []
    for _ in range(draws):
        pair.losses(batch, original)
        ours_grads.append(torch.cat([p.grad.flatten() for p in pair.ours.parameters()]))
        grads = {n: p.grad for n, p in zip(names, pair.original.parameters(), strict=True)}
        their_grads.append(torch.cat([g.flatten() for g in pair.in_our_layout(grads)]))
    what = "GVE's cross-entropy" if pair.gve else "LRCN"
    _report(f"{what}, dropout 0.5", draws, torch.stack(ours_grads), torch.stack(their_grads))


def expected_reinforce(pair: Pair, draws: int, classifier_steps: int = 150) -> None:
    """REINFORCE alone, dropout off, the sentence classifier frozen (as both read it in the
    first epoch): the mean gradient over ``draws`` sampled batches of the original's
    ``-(sum log p(sample) * R).sum() / B`` against gvetool's REINFORCE term, on the same
    weights, the classifier a gvetool one trained briefly and copied into the original's."""
    from models.sentence_classifier import SentenceClassifier as TheirClassifier

    from gvetool.builtins.models.gve import GVE
    from gvetool.builtins.models.sentence_classifier import SentenceClassifier

    words, dim, size, _ = pair.shape
    classifier = SentenceClassifier(words, pair.classes, size, size, dropout=0.0)
    adam = Adam(list(classifier.parameters()), lr=3e-3)
    rng = np.random.default_rng(2)
    for _ in range(classifier_steps):
        adam.zero_grad()
        loss, _ = classifier.loss(pair.batch(rng, 64)[0])
        loss.backward()
        adam.step()
    theirs = TheirClassifier(size, size, words, pair.classes, dropout_prob=0.0)
    with torch.no_grad():
        theirs.word_embed.weight.copy_(classifier.embed.weight)
        for name, value in classifier.lstm.named_parameters():
            getattr(theirs.lstm, name).copy_(value)
        theirs.linear.weight.copy_(classifier.out.weight)
        theirs.linear.bias.copy_(classifier.out.bias)
    theirs.eval().requires_grad_(False)
    ours = GVE(words, dim, pair.classes, size, size, dropout=0.0, reinforce_weight=1.0)
    ours.load_state_dict(pair.ours.state_dict())
    ours.attach_sentence_classifier(classifier)
    ours.train()
    original = pair.original
    original.sentence_classifier = None  # not a submodule here: its weights stay out
    batch, _ = pair.batch(np.random.default_rng(3), 32)
    start = torch.tensor([[pair.vocab(pair.vocab.start_token)]])
    end = torch.tensor([[pair.vocab(pair.vocab.end_token)]])
    names = [name for name, _ in original.named_parameters()]
    ours_grads, their_grads, rewards = [], [], []
    for _ in range(draws):
        ours.zero_grad()
        loss, reward = ours.reinforce_loss(batch)
        loss.backward()
        ours_grads.append(torch.cat([p.grad.flatten() for p in ours.parameters()]))
        original.zero_grad()
        ids, log_p, lengths = original.generate_sentence(
            batch.features, start, end, batch.class_ids, sample=True
        )
        order = torch.argsort(lengths, descending=True)
        probabilities = torch.softmax(theirs(ids[order], lengths[order].tolist()), dim=1)
        reward_theirs = probabilities.gather(1, batch.class_ids[order].view(-1, 1)).squeeze(1)
        r_loss = -(log_p[order].sum(dim=1) * reward_theirs).sum() / len(order)
        r_loss.backward()
        grads = {
            n: p.grad if p.grad is not None else torch.zeros_like(p)
            for n, p in zip(names, original.parameters(), strict=True)
        }
        their_grads.append(torch.cat([g.flatten() for g in pair.in_our_layout(grads)]))
        rewards.append((float(reward.mean()), float(reward_theirs.mean())))
    _report("GVE's REINFORCE", draws, torch.stack(ours_grads), torch.stack(their_grads))
    ours_reward, their_reward = np.mean(rewards, axis=0)
    print(f"  mean reward: gvetool {ours_reward:.4f}, original {their_reward:.4f}")


def _report(what: str, draws: int, ours: torch.Tensor, theirs: torch.Tensor) -> None:
    error = torch.sqrt((ours.var(0) + theirs.var(0)) / draws)
    moving = error > 0  # parameters no token of the batch reaches have no gradient
    z = ((ours.mean(0) - theirs.mean(0))[moving] / error[moving]).abs()
    print(
        f"{what}, {draws} draws: mean |z| {float(z.mean()):.2f} (equal means: 0.80), "
        f"|z| > 3 for {float((z > 3).float().mean()):.2%} of {int(moving.sum())} weights "
        "(equal means: 0.27%)"
    )


def decode_original(done_path: Path, vocab: Any, features: dict, labels: dict, model: str) -> None:
    """The original's best LRCN or GVE decoded by gvetool (GVE explaining each image's true
    class, as the original's test does): the same sentences?"""
    done = json.loads(done_path.read_text())
    state = torch.load(done["best"], weights_only=True, map_location="cpu")
    words = [vocab.idx2word[i] for i in range(len(vocab.idx2word))]
    ours_vocab = Vocabulary((*SPECIALS, *words[len(SPECIALS) :]))
    state = {k: v for k, v in state.items() if not k.startswith("sentence_classifier.")}
    hidden, dim = state["linear1.weight"].shape
    classes = state["lstm2.weight_ih_l0"].shape[1] - 2 * hidden
    captioner = Captioner(
        len(words), dim, state["word_embed.weight"].shape[1], hidden, num_classes=classes
    )
    _copy_from_original(state, captioner)
    captioner.eval()
    test = done["test"]
    x = torch.tensor(np.stack([features[i] for i in test]), dtype=torch.float32)
    truth = [int(labels[i]) - 1 if classes else 0 for i in test]
    with torch.no_grad():
        tokens, _ = captioner.generate(x, torch.tensor(truth), 50, greedy=True)
    ours = [ours_vocab.decode(row) for row in tokens.tolist()]
    same = sum(a == b for a, b in zip(ours, test.values(), strict=True))
    length = statistics.mean(len(s.split()) for s in ours)
    print(
        f"{done_path.parent.parent.parent.name}: the original's best {model.upper()} decoded by "
        "gvetool: "
        f"{same}/{len(test)} sentences identical, mean length {length:.2f}"
    )


if __name__ == "__main__":
    main()
