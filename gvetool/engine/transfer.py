"""Transfer learning: start a captioner from one trained on other classes (or data).

What breaks a naive weight copy, and what is done instead:

* **classes** — GVE's class-input table has a row per class; the target's classes are
  others, so the table is re-initialised at the target's size (and stays trainable even
  under ``--freeze all-but-output``: freezing random rows would teach nothing);
* **vocabulary** — ``source`` keeps the source's words (target words it lacks become the
  unknown token; the rate is reported); ``extend`` appends the target's new words with
  freshly initialised embedding and output rows, copying the rows of known words;
* **reward** — the target's own sentence classifier is used; when its vocabulary differs
  from the explainer's, sampled sentences are mapped word by word before it reads them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from gvetool.data.vocab import SPECIALS, Vocabulary
from gvetool.utils.errors import GvetoolError

FREEZE_CHOICES = ("none", "embeddings", "lstm", "all-but-output")
VOCAB_CHOICES = ("source", "extend")


def transfer_vocabulary(
    source_words: list[str], target_tokens: list[list[str]], mode: str, min_count: int
) -> tuple[Vocabulary, float]:
    """The run's vocabulary and the share of target training tokens it does not know."""
    known = set(source_words)
    if mode == "extend":
        counts = Counter(t for tokens in target_tokens for t in tokens if t not in known)
        new = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        vocab = Vocabulary((*source_words, *new))
    elif mode == "source":
        vocab = Vocabulary(tuple(source_words))
    else:
        raise GvetoolError(f"--vocab must be one of {', '.join(VOCAB_CHOICES)}, got {mode!r}")
    total = sum(len(tokens) for tokens in target_tokens)
    unknown = sum(1 for tokens in target_tokens for t in tokens if t not in vocab)
    return vocab, unknown / max(1, total)


def adapt_weights(model: nn.Module, source: dict[str, Any], vocab: Vocabulary) -> None:
    """Copy the source checkpoint's weights into ``model`` (built for the target)."""
    state = model.state_dict()
    index = {w: i for i, w in enumerate(source["vocabulary"])}
    rows = [(new, index[w]) for new, w in enumerate(vocab.words) if w in index]
    new_rows = torch.tensor([r[0] for r in rows])
    old_rows = torch.tensor([r[1] for r in rows])
    for key, value in source["state_dict"].items():
        if key not in state or key in model.class_parameters:
            continue  # a parameter the target lacks, or per-class rows: keep fresh ones
        if key in model.vocabulary_parameters:
            state[key][new_rows] = value[old_rows]
        elif state[key].shape == value.shape:
            state[key] = value
        else:
            raise GvetoolError(
                f"cannot transfer {key}: {tuple(value.shape)} in the source, "
                f"{tuple(state[key].shape)} here; keep the source's embedding and hidden sizes"
            )
    model.load_state_dict(state)


def apply_freeze(model: nn.Module, mode: str, model_name: str = "this model") -> int:
    """Stop training the parameter groups ``mode`` names; returns how many were frozen.

    The groups are the model's own (its ``freeze_groups``): the engine knows no names.
    """
    groups = getattr(model, "freeze_groups", {"none": ()})
    if mode not in groups:
        raise GvetoolError(
            f"--freeze must be one of {', '.join(groups)} for '{model_name}', got {mode!r}"
        )
    frozen = 0
    for name, parameter in model.named_parameters():
        if name.startswith(groups[mode]):
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen


def token_map(source: Vocabulary, target: Vocabulary) -> torch.Tensor:
    """``map[i]`` is the id in ``target`` of ``source``'s word ``i`` (unknown -> <unk>)."""
    return torch.tensor([target.id(word) for word in source.words], dtype=torch.long)
