"""The split's images as the explorer's browse page asks for them: filtered, searched, paged.

Everything is computed once when the server starts (:mod:`gvetool.evaluation.side_by_side`),
so a page of CUB's 5,794 test images is a scan of lowercase strings, milliseconds, however
slow a model is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gvetool.evaluation.side_by_side import SideBySide

MAX_PAGE = 100


@dataclass(frozen=True)
class Query:
    """One browse request: a class (``None``: all), words to find, and the page."""

    class_name: str | None = None
    text: str = ""
    offset: int = 0
    limit: int = 24


class Catalog:
    """The images of one split with every run's sentence, searchable."""

    def __init__(self, shown: SideBySide) -> None:
        self.shown = shown
        self._search = [
            " ".join((image.id, *(s.text for s in image.sentences))).lower()
            for image in shown.images
        ]

    def __len__(self) -> int:
        return len(self.shown.images)

    def matching(self, query: Query) -> list[int]:
        """The indices of the images ``query`` selects, in the split's order: the class
        matches exactly, and every word of the text occurs in the id or a sentence."""
        words = query.text.lower().split()
        return [
            n
            for n, image in enumerate(self.shown.images)
            if (query.class_name is None or image.class_name == query.class_name)
            and all(word in self._search[n] for word in words)
        ]

    def page(self, query: Query) -> dict[str, Any]:
        """The JSON of ``GET /api/images``: the total that matched and one page of them."""
        found = self.matching(query)
        chosen = found[query.offset : query.offset + query.limit]
        return {
            "split": self.shown.split,
            "total": len(found),
            "offset": query.offset,
            "limit": query.limit,
            "images": [self.entry(n) for n in chosen],
        }

    def entry(self, index: int) -> dict[str, Any]:
        """One image as the page shows it: its picture's address and each run's sentence."""
        image = self.shown.images[index]
        return {
            "index": index,
            "id": image.id,
            "class": image.class_name,
            "image": f"/api/images/{index}/picture",
            "sentences": {
                run: {
                    "text": sentence.text,
                    "repeats": sentence.repeats,
                    "judged_as": sentence.judged_as,
                    "counterfactual": None
                    if sentence.counterfactual is None
                    else dict(zip(("class", "text"), sentence.counterfactual, strict=True)),
                }
                for run, sentence in zip(self.shown.runs, image.sentences, strict=True)
            },
        }
