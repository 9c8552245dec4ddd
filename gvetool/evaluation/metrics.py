"""Caption metrics through pycocoevalcap's scorers: BLEU-1..4, METEOR, ROUGE-L, CIDEr (CIDEr-D,
as pycocoevalcap computes it) and SPICE where its Java models are installed.

The scorers are composed here rather than through ``COCOEvalCap.evaluate()``, which
insists on SPICE (Java models downloaded at run time; it crashes offline). Sentences are
tokenised as everywhere else in gvetool (:mod:`gvetool.data.tokenize`): final evaluation
runs the PTB tokenizer over references and candidates in one Java start, as pycocoevalcap
does; validation during training reuses the split's cached reference tokens and splits
generated sentences on spaces (their words are vocabulary tokens already), so no Java
starts every epoch. METEOR keeps one Java process for the scorer's life. A metric that
cannot run (no Java, no SPICE models) is skipped with one warning line saying why; the
others still run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gvetool import console
from gvetool.data.tokenize import java_available, sentence_tokens, tokenize_captions

BLEU_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
Reference = str | list[str]  # a sentence, or its tokens


class CaptionScorer:
    """Scores candidate captions against references; reuse it across epochs."""

    def __init__(
        self,
        metrics: Sequence[str] = ("bleu", "meteor", "rouge", "cider"),
        ptb_tokenizer: bool = False,
    ) -> None:
        self.metrics = list(metrics)
        self.ptb_tokenizer = ptb_tokenizer
        self._java_meteor: Any = None
        self.skipped: dict[str, str] = {}
        java = java_available()
        for metric in ("meteor", "spice"):
            if metric in self.metrics and not java:
                self._skip(metric, f"{metric.upper()} skipped: the program 'java' was not found")
        if "spice" in self.metrics and java and spice_models() is not None:
            self._skip(
                "spice",
                f"SPICE skipped: its Stanford CoreNLP models are missing ({spice_models()})",
            )

    def _skip(self, metric: str, reason: str) -> None:
        if metric not in self.skipped:
            self.skipped[metric] = reason
            console.warn(reason)

    def score(
        self, references: Mapping[Any, Sequence[Reference]], candidates: Mapping[Any, str]
    ) -> tuple[dict[str, float], dict[str, dict[Any, float]]]:
        """Corpus-level scores and per-image scores (``{metric: {image: score}}``).

        References may be given already tokenised (lists of tokens), as a split caches them.
        """
        ids = [i for i in candidates if references.get(i)]
        gts, res = self._tokenize(
            {i: list(references[i]) for i in ids}, {i: [candidates[i]] for i in ids}
        )
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

    def _tokenize(self, gts: dict, res: dict) -> tuple[dict, dict]:
        """pycocoevalcap's input: per id, space-joined tokens of each sentence."""
        raw = [r for refs in gts.values() for r in refs if isinstance(r, str)]
        if self.ptb_tokenizer:  # candidates too, in the same (single) Java run
            raw += [c for cands in res.values() for c in cands]
        tokens = iter(tokenize_captions(raw, cache=False))
        joined = {
            i: [" ".join(r if isinstance(r, list) else next(tokens)) for r in refs]
            for i, refs in gts.items()
        }
        split = (lambda _: next(tokens)) if self.ptb_tokenizer else sentence_tokens
        return joined, {i: [" ".join(split(c)) for c in cands] for i, cands in res.items()}

    def _spice(self, gts: dict, res: dict) -> dict[str, tuple[float, list[float]]] | None:
        from pycocoevalcap.spice.spice import Spice

        try:
            total, scores = Spice().compute_score(gts, res)
        except Exception as exc:  # a Java crash must not lose the other metrics
            self._skip("spice", f"SPICE skipped: the Java scorer failed ({exc})")
            return None
        return {"SPICE": (total, [s["All"]["f"] for s in scores])}

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
