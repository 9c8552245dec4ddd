"""Tokenisation: the Stanford PTB tokenizer that pycocoevalcap ships, once per caption set.

The original GVE code builds its vocabulary and training targets from captions tokenised
by the Stanford PTB tokenizer (lower-cased, punctuation dropped), and pycocoevalcap scores
sentences after the same tokenizer. Using it everywhere — vocabulary, training targets,
validation and final metrics, class relevance — means a model learns exactly the words it
is scored on ("black/white", "3.5-inch", "?!" and "-lrb-" are single tokens to it, which
no regular expression reproduces).

Java starts once per caption set (about 0.1 s plus 2-3 s per 100,000 captions), and the
result is cached under ``$GVETOOL_HOME/tokens`` keyed by a hash of the captions, so a
dataset is tokenised once, like its feature store is built once. Without Java a pure
Python approximation (:func:`python_tokens`) is used, with one warning line; its cache
entries are kept apart, so installing Java later gives the real tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gvetool.utils import console
from gvetool.utils.errors import GvetoolError, advice_for
from gvetool.utils.files import write_text
from gvetool.utils.paths import home

# What pycocoevalcap's PTBTokenizer drops after tokenising (its exact list: the lower-
# cased bracket tokens such as "-lrb-" are kept, as pycocoevalcap keeps them).
PUNCTUATION = frozenset(
    [
        "''",
        "'",
        "``",
        "`",
        "-LRB-",
        "-RRB-",
        "-LCB-",
        "-RCB-",
        ".",
        "?",
        "!",
        ",",
        ":",
        "-",
        "--",
        "...",
        ";",
    ]
)

# Characters Java's line reader or the tokenizer would take as line breaks: each caption
# must stay one line, so that output line i is caption i.
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

_PYTHON_TOKEN = re.compile(
    r"n't|'(?:s|re|ve|ll|d|m)\b"  # clitics split off as PTB does: do n't, bird 's
    r"|[a-z0-9]+(?:[-.][a-z0-9]+)*(?=n't)"  # the word before n't
    r"|\d+(?:[.,]\d+)+"  # numbers such as 3.5 stay whole
    r"|[a-z0-9]+(?:-[a-z0-9]+)*"  # words, keeping hyphenated compounds (cone-shaped)
    r"|\.\.\.|--|[^\sa-z0-9]"  # punctuation, one symbol at a time
)

CACHE_VERSION = "1"
_warned = False


def python_tokens(text: str) -> list[str]:
    """An approximation of the PTB tokenizer in Python, used only without Java.

    It agrees with the Java tokenizer on plain descriptions; it differs on slashes,
    quotes, brackets and repeated punctuation.
    """
    brackets = {"(": "-lrb-", ")": "-rrb-", "{": "-lcb-", "}": "-rcb-"}
    tokens = [brackets.get(t, t) for t in _PYTHON_TOKEN.findall(text.lower())]
    return [t for t in tokens if t not in PUNCTUATION]


def _jar() -> Path:
    from pycocoevalcap.tokenizer import ptbtokenizer

    return Path(ptbtokenizer.__file__).parent / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR


def java_available() -> bool:
    return shutil.which("java") is not None


def ptb_tokens(texts: Sequence[str]) -> list[list[str]]:
    """Tokenise ``texts`` with the Stanford PTB tokenizer, as pycocoevalcap does (one Java run)."""
    if not texts:
        return []
    lines = "\n".join(_LINE_BREAKS.sub(" ", text) for text in texts)
    with tempfile.TemporaryDirectory(prefix="gvetool-ptb-") as folder:
        source = Path(folder) / "captions.txt"
        try:
            source.write_text(lines, encoding="utf-8")
        except OSError as exc:  # the temporary folder is full or limited
            raise GvetoolError(
                f"cannot write {source} for the PTB tokenizer: {exc.strerror or exc} "
                f"({advice_for(exc)}; TMPDIR chooses the folder)"
            ) from None
        command = [
            "java",
            "-Dfile.encoding=UTF-8",
            "-cp",
            str(_jar()),
            "edu.stanford.nlp.process.PTBTokenizer",
            "-preserveLines",
            "-lowerCase",
            str(source),
        ]
        try:
            done = subprocess.run(command, capture_output=True, check=False)
        except OSError as exc:
            raise GvetoolError(f"the PTB tokenizer could not start java ({exc})") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GvetoolError(
            f"the PTB tokenizer failed (java exit {done.returncode}: "
            f"{message[-1] if message else 'no message'})"
        )
    output = done.stdout.decode("utf-8").split("\n")
    if len(output) > len(texts) and not any(output[len(texts) :]):
        output = output[: len(texts)]  # the trailing newline
    if len(output) != len(texts):
        raise GvetoolError(
            f"the PTB tokenizer returned {len(output)} lines for {len(texts)} captions"
        )
    return [[t for t in line.rstrip().split(" ") if t and t not in PUNCTUATION] for line in output]


def tokenizer_name() -> str:
    """``"ptb"`` where Java runs the Stanford tokenizer, else ``"python"``."""
    return "ptb" if java_available() else "python"


def _warn_fallback() -> None:
    global _warned
    if not _warned:
        _warned = True
        console.warn(
            "no 'java' found: captions are tokenised by a Python approximation of the PTB "
            "tokenizer (install Java 11+ for the original's tokens)"
        )


def tokenize_captions(texts: Sequence[str], cache: bool = True) -> list[list[str]]:
    """Every caption's tokens; each caption set is tokenised once and cached on disk."""
    name = tokenizer_name()
    if name == "python":
        _warn_fallback()
    if not cache or not texts:
        return _tokenize_with(name, texts)
    digest = hashlib.sha256(f"{CACHE_VERSION}:{name}:{len(texts)}\0".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    path = home() / "tokens" / f"{name}-{digest.hexdigest()[:32]}.json"
    try:
        tokens = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(tokens, list) and len(tokens) == len(texts):
            return [[sys.intern(t) for t in line] for line in tokens]
    except (OSError, ValueError):
        pass  # not cached yet, or unreadable: tokenise again
    tokens = _tokenize_with(name, texts)
    try:
        os.makedirs(path.parent, exist_ok=True)
        write_text(path, json.dumps(tokens, separators=(",", ":")))
    except (OSError, GvetoolError) as exc:
        console.warn(f"could not cache tokens in {path.parent} ({exc}); continuing")
    return tokens


def _tokenize_with(name: str, texts: Sequence[str]) -> list[list[str]]:
    if name == "ptb":
        return [[sys.intern(t) for t in line] for line in ptb_tokens(texts)]
    return [[sys.intern(t) for t in python_tokens(text)] for text in texts]


def tokenize(text: str) -> list[str]:
    """One caption's tokens (a batch of captions: :func:`tokenize_captions`)."""
    return tokenize_captions([text], cache=False)[0]


def sentence_tokens(sentence: str) -> list[str]:
    """Tokens of a generated sentence: its words are vocabulary tokens, joined by spaces.

    The PTB tokenizer returns its own output unchanged (tested), so splitting on spaces
    gives what a second tokenizer run would, without starting Java.
    """
    return sentence.split()
