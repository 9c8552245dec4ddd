"""Caption metrics through pycocoevalcap's scorers: BLEU-1..4, METEOR, ROUGE-L, CIDEr
(CIDEr-D, as pycocoevalcap computes it) and SPICE where its Java models are installed.

The scorers are called one by one rather than through ``COCOEvalCap.evaluate()``, which
insists on SPICE (Java models downloaded at run time; it crashes offline). They get the
references and sentences tokenised once for all of them by
:func:`gvetool.evaluation.scoring.scoring_input`. Images without references are left out,
as pycocoevalcap has nothing to score them against.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gvetool.evaluation.scoring import MetricResult, ScoringInput
from gvetool.utils.errors import MetricUnavailable


class PycocoMetric:
    """One pycocoevalcap scorer over the images that have references."""

    def score(self, scoring: ScoringInput) -> MetricResult:
        assert scoring.references is not None and scoring.candidates is not None
        ids = [i for i, refs in enumerate(scoring.references) if refs]
        if not ids:
            return MetricResult({})
        gts = {i: [" ".join(r) for r in scoring.references[i]] for i in ids}
        res = {i: [" ".join(scoring.candidates[i])] for i in ids}
        totals: dict[str, float] = {}
        per_image: dict[str, list[float | None]] = {}
        for key, (total, scores) in self.compute(gts, res).items():
            totals[key] = float(total)
            values: list[float | None] = [None] * len(scoring.references)
            for i, value in zip(ids, scores, strict=True):
                values[i] = float(value)
            per_image[key] = values
        return MetricResult(totals, per_image=per_image)

    def compute(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing held (METEOR overrides)."""


class Bleu(PycocoMetric):
    KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")

    def compute(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.bleu.bleu import Bleu as Scorer

        totals, scores = Scorer(4).compute_score(gts, res, verbose=0)
        return {key: (totals[n], scores[n]) for n, key in enumerate(self.KEYS)}


class Rouge(PycocoMetric):
    def compute(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.rouge.rouge import Rouge as Scorer

        total, scores = Scorer().compute_score(gts, res)
        return {"ROUGE-L": (total, list(scores))}


class Cider(PycocoMetric):
    def compute(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.cider.cider import Cider as Scorer

        total, scores = Scorer().compute_score(gts, res)
        return {"CIDEr": (total, list(scores))}


class Meteor(PycocoMetric):
    """METEOR keeps one Java process for the scorer's life (validation reuses it every
    epoch); a crashed process is started again on the next call."""

    def __init__(self) -> None:
        self._java: Any = None

    def compute(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        try:
            if self._java is None:
                from pycocoevalcap.meteor.meteor import Meteor as Scorer

                self._java = Scorer()
            total, scores = self._java.compute_score(gts, res)
        except (OSError, ValueError, BrokenPipeError) as exc:
            self._java = None
            raise MetricUnavailable(f"the Java scorer failed ({exc})") from None
        return {"METEOR": (total, list(scores))}

    def close(self) -> None:
        if self._java is not None:
            process = self._java.meteor_p
            process.stdin.close()
            process.kill()
            process.wait()
            self._java = None


class Spice(PycocoMetric):
    def __init__(self) -> None:
        missing = spice_models()
        if missing is not None:
            raise MetricUnavailable(f"its Stanford CoreNLP models are missing ({missing})")

    def compute(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]]:
        from pycocoevalcap.spice.spice import Spice as Scorer

        try:
            total, scores = Scorer().compute_score(gts, res)
        except Exception as exc:  # a Java crash must not lose the other metrics
            raise MetricUnavailable(f"the Java scorer failed ({exc})") from None
        return {"SPICE": (total, [s["All"]["f"] for s in scores])}


def spice_models() -> Path | None:
    """The missing Stanford CoreNLP jar SPICE needs, or ``None`` when it is installed."""
    spec = importlib.util.find_spec("pycocoevalcap.spice")
    if spec is None or not spec.submodule_search_locations:
        return Path("pycocoevalcap/spice")
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    for name in ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar"):
        if not (lib / name).is_file():
            return lib / name
    return None
