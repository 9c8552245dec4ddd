"""Caption metrics through pycocoevalcap's scorers: BLEU-1..4, METEOR, ROUGE-L, CIDEr.

The scorers are composed here rather than through ``COCOEvalCap.evaluate()``, which
insists on SPICE (Java models downloaded at run time; it crashes offline). Captions are
tokenised with :func:`gvetool.data.tokenize.tokenize`, which agrees with the PTB tokenizer
on this text (tested) without starting Java for every call. METEOR keeps one Java process
for the scorer's life, so a training run pays its start-up once, not once per epoch; when
Java is missing METEOR is skipped with one warning and the other metrics still run.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from gvetool import console
from gvetool.data.tokenize import tokenize

BLEU_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")


def _tokenized(texts: Sequence[str]) -> list[str]:
    return [" ".join(tokenize(text)) for text in texts]


class CaptionScorer:
    """Scores candidate captions against references; reuse it across epochs."""

    def __init__(self, metrics: Sequence[str] = ("bleu", "meteor", "rouge", "cider")) -> None:
        self.metrics = list(metrics)
        self._java_meteor: Any = None
        self.skipped: dict[str, str] = {}
        if "meteor" in self.metrics and shutil.which("java") is None:
            self._skip("meteor", "METEOR skipped: the program 'java' was not found")

    def _skip(self, metric: str, reason: str) -> None:
        if metric not in self.skipped:
            self.skipped[metric] = reason
            console.warn(reason)

    def score(
        self, references: Mapping[Any, Sequence[str]], candidates: Mapping[Any, str]
    ) -> tuple[dict[str, float], dict[str, dict[Any, float]]]:
        """Corpus-level scores and per-image scores (``{metric: {image: score}}``)."""
        ids = [i for i in candidates if references.get(i)]
        gts = {i: _tokenized(references[i]) for i in ids}
        res = {i: _tokenized([candidates[i]]) for i in ids}
        totals: dict[str, float] = {}
        per_image: dict[str, dict[Any, float]] = {}
        if not ids:
            return totals, per_image
        for metric in self.metrics:
            if metric in self.skipped:
                continue
            result = getattr(self, f"_{metric}")(gts, res)
            if result is None:
                continue
            for name, (total, scores) in result.items():
                totals[name] = float(total)
                per_image[name] = {i: float(s) for i, s in zip(ids, scores, strict=True)}
        return totals, per_image

    def _bleu(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.bleu.bleu import Bleu

        totals, scores = Bleu(4).compute_score(gts, res, verbose=0)
        return {key: (totals[n], scores[n]) for n, key in enumerate(BLEU_KEYS)}

    def _rouge(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.rouge.rouge import Rouge

        total, scores = Rouge().compute_score(gts, res)
        return {"ROUGE-L": (total, list(scores))}

    def _cider(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.cider.cider import Cider

        total, scores = Cider().compute_score(gts, res)
        return {"CIDEr": (total, list(scores))}

    def _meteor(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]] | None:
        try:
            if self._java_meteor is None:
                from pycocoevalcap.meteor.meteor import Meteor

                self._java_meteor = Meteor()
            total, scores = self._java_meteor.compute_score(gts, res)
        except (OSError, ValueError, BrokenPipeError) as exc:
            self._java_meteor = None
            self._skip("meteor", f"METEOR skipped: the Java scorer failed ({exc})")
            return None
        return {"METEOR": (total, list(scores))}

    def close(self) -> None:
        """Stop the METEOR Java process."""
        if self._java_meteor is not None:
            process = self._java_meteor.meteor_p
            process.stdin.close()
            process.kill()
            process.wait()
            self._java_meteor = None
