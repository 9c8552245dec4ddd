"""After-epoch validation, one class per task (:mod:`gvetool.kernel.tasks` names them)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gvetool.config.resolution import validation_metrics
from gvetool.config.schema import TrainConfig
from gvetool.data.captions import CaptionExamples, ImageExamples, batches
from gvetool.data.corpus import Split
from gvetool.data.features import FeatureStore
from gvetool.data.vocab import Vocabulary
from gvetool.engine.generate import generate_split
from gvetool.evaluation.scoring import Scorer, scoring_input
from gvetool.utils.errors import ConfigError


def score_captions(
    model: nn.Module,
    images: ImageExamples,
    references: list[list[list[str]]],
    vocab: Vocabulary,
    scorer: Scorer,
    device: torch.device,
    batch_size: int,
    max_len: int,
) -> dict[str, float]:
    """Corpus-level metrics of greedy sentences against the split's references.

    The references are the split's cached tokens, as training saw them, and the sentences
    are split on spaces (their words are vocabulary tokens already): no Java starts every
    epoch. The PTB tokenizer returns such sentences unchanged (tested), so the numbers are
    a final evaluation's.
    """
    sentences = generate_split(model, images, vocab, device, batch_size, max_len)
    scoring = scoring_input(sentences, references, False, scorer.needs)
    return scorer.score(scoring).totals


@torch.no_grad()
def classification_accuracy(
    model: nn.Module, examples: CaptionExamples, device: torch.device, batch_size: int
) -> dict[str, float]:
    """Top-1 accuracy of a sentence classifier on every caption of a split."""
    model.eval()
    correct = 0
    for indices in batches(len(examples), batch_size):
        batch = examples.__getitems__(indices).to(device)
        correct += int((model(batch.tokens, batch.lengths).argmax(1) == batch.class_ids).sum())
    return {"accuracy": correct / max(1, len(examples))}


class Validation:
    """A task's validation: built by ``Task.make_validation``, called after each epoch."""

    def __init__(
        self,
        config: TrainConfig,
        split: Split,
        vocab: Vocabulary,
        store: FeatureStore,
        device: torch.device,
    ) -> None:
        self.config, self.split, self.vocab, self.store, self.device = (
            config,
            split,
            vocab,
            store,
            device,
        )

    def __call__(self, model: nn.Module) -> dict[str, float]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what validation holds (nothing by default)."""


class CaptionValidation(Validation):
    """Greedy sentences for every validation image, scored by the run's ``--val-metrics``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.images = ImageExamples(self.split, self.store)
        self.references = self.split.tokens_by_image()  # grouped once, read every epoch
        self.scorer = Scorer([spec.name for spec in validation_metrics(self.config)])
        try:
            self._rehearse()
        except BaseException:
            self.scorer.close()
            raise

    def _rehearse(self) -> None:
        """Score two images' first references against their own, before the first step:
        a metric that raises, or cannot run here, says so now and not after an epoch (and,
        in ``train``, before the run's folder is made). One that picks ``best.pt`` must run."""
        sample = self.references[:2]
        candidates = [" ".join(references[0]) for references in sample]
        self.scorer.score(scoring_input(candidates, sample, False, self.scorer.needs))
        specs = self.scorer.specs
        if not any(spec.best and spec.name not in self.scorer.skipped for spec in specs):
            reasons = "; ".join(self.scorer.skipped.values())
            raise ConfigError(
                f"val_metrics: nothing left to pick best.pt ({reasons}); choose metrics that "
                "run here with --val-metrics, e.g. bleu or cider"
            )

    def __call__(self, model: nn.Module) -> dict[str, float]:
        return score_captions(
            model,
            self.images,
            self.references,
            self.vocab,
            self.scorer,
            self.device,
            self.config.batch_size,
            self.config.max_len,
        )

    def close(self) -> None:
        self.scorer.close()


class AccuracyValidation(Validation):
    """Top-1 accuracy of a sentence classifier over every validation caption."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.examples = CaptionExamples(self.split, self.vocab, self.store)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        return classification_accuracy(model, self.examples, self.device, self.config.batch_size)
