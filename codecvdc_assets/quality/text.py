"""Text helpers the gates share: words, quoted spans, a normal form for comparing captions."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Quoted spans: a sign, a title, words someone says. Straight single quotes only when they are not
# apostrophes (a letter on the outside of either quote mark means an apostrophe: "the man's hat").
_QUOTED = re.compile(
    r"\"[^\"\n]*\"|“[^”\n]*”|„[^“”\n]*[“”]|«[^»\n]*»|「[^」\n]*」|『[^』\n]*』|‘[^’\n]*’(?!\w)|(?<!\w)'(?:[^'\n]|(?<=\w)'(?=\w))*'(?!\w)"
)


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits of any script; apostrophes inside a word kept)."""
    return list(_words(text))


@lru_cache(maxsize=256)  # the gates of one caption tokenize the same text several times
def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower().replace("’", "'")))


def unquoted(text: str) -> str:
    """The text with quoted spans replaced by a space: what the captioner wrote in its own voice."""
    return _QUOTED.sub(" ", text)


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def normal_form(text: str) -> str:
    """Lower case, digits folded to 0 (frame numbers, times), words joined by one space."""
    return " ".join(re.sub(r"\d+", "0", w) for w in words(text))
