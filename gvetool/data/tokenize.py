"""PTB-style tokenisation in pure Python, matching what evaluation sees.

pycocoevalcap tokenises references and candidates with the Stanford PTB tokenizer (Java)
and then drops punctuation. Building the vocabulary with the same rules — lowercase,
split off punctuation and clitics, drop punctuation tokens — means the words a model
learns are the words it is scored on, without starting Java for every caption.
"""

from __future__ import annotations

import re

# Same punctuation pycocoevalcap's PTBTokenizer removes after tokenising; the Java
# tokenizer rewrites brackets to the -LRB- family first, so brackets are removed too.
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
        "(",
        ")",
        "{",
        "}",
    ]
)

_TOKEN = re.compile(
    r"n't|'(?:s|re|ve|ll|d|m)\b"  # clitics split off as PTB does: do n't, bird 's
    r"|[a-z0-9]+(?:[-.][a-z0-9]+)*(?=n't)"  # the word before n't
    r"|\d+(?:[.,]\d+)+"  # numbers such as 3.5 stay whole
    r"|[a-z0-9]+(?:-[a-z0-9]+)*"  # words, keeping hyphenated compounds (cone-shaped)
    r"|\.\.\.|--|[^\sa-z0-9]"  # punctuation, one symbol at a time
)


def tokenize(text: str) -> list[str]:
    """Lowercased PTB-like tokens of ``text`` with punctuation removed."""
    return [token for token in _TOKEN.findall(text.lower()) if token not in PUNCTUATION]
