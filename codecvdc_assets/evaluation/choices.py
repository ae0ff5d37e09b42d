"""Read a multiple-choice answer the way a text model writes it, into an option letter or `unknown`.

Models answer `B`, `(B)`, `B.`, `B)`, `B. option text`, `Answer: B`, `The answer is (B) ...`, the option
text alone, or `unknown` / `none` / `N/A`. TempCompass's own answers look like `A. dunking a basketball`.
Anything that names no option, or names two, is `unknown`: it says nothing about the video, and it is
counted in the no-evidence rate, never raised as an error.
"""

from __future__ import annotations

import re

from codecvdc_assets.evaluation.bank import LETTERS, UNKNOWN

_ABSTAIN = {"unknown", "none", "n/a", "na", "not sure", "cannot tell", "cannot be determined", "no answer", ""}
_PREFIX = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct\s+|best\s+|final\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:=]?\s*)+", re.I
)
# A letter standing alone: "B", "(B)", "[B]", "B.", "B)", "B:", "B -", followed by the end or option text.
_LEAD = re.compile(r"^[\(\[\{\"'*]*([A-Za-z])[\)\]\}\"'*]*(?:[.:)\-,]|\s|$)")
_WORDS = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def parse_choice(answer: object, options: list[str] | tuple[str, ...]) -> str:
    """The option letter `answer` names among `options` (letter order A, B, ...), else `unknown`."""
    text = str(answer if answer is not None else "").strip()
    letters = LETTERS[: len(options)]
    body = _PREFIX.sub("", text).strip()
    if body.lower().strip(" .!") in _ABSTAIN:
        return UNKNOWN
    lead = _LEAD.match(body)
    if lead and lead.group(1).upper() in letters:
        letter, rest = lead.group(1).upper(), body[lead.end() :].strip()
        marked = bool(re.match(r"^[\(\[\{\"'*]*[A-Za-z][\)\]\}\"'*]*[.:)\-,]|^[\(\[]", body))
        if not rest:
            return letter
        if marked:  # "B. text", "(B) text": the letter is the answer, unless the text is another option
            return UNKNOWN if _names_other(rest, options, letter) else letter
        if lead.group(1).isupper() and _fits(rest, options[letters.index(letter)]):
            return letter  # "B dribbling a basketball"; "A man walks right" falls through to the text
    # The option text alone (or inside a sentence): exactly one option's whole text must appear.
    said = " " + " ".join(_words(body)) + " "
    hits = [
        letters[i] for i, option in enumerate(options) if _words(option) and f" {' '.join(_words(option))} " in said
    ]
    # An option that is part of a longer one ("left" in "to the left") yields to the longer one.
    hits = [h for h in hits if not any(h != o and _contains(options, o, h) for o in hits)]
    return hits[0] if len(hits) == 1 else UNKNOWN


def _fits(rest: str, option: str) -> bool:
    return " ".join(_words(option)) in " ".join(_words(rest)) or " ".join(_words(rest)) in " ".join(_words(option))


def _names_other(rest: str, options: list[str] | tuple[str, ...], letter: str) -> bool:
    """Whether the text after the letter is exactly another option's text (a contradiction)."""
    said = " ".join(_words(rest))
    return any(LETTERS[i] != letter and said == " ".join(_words(o)) for i, o in enumerate(options) if _words(o))


def _contains(options: list[str] | tuple[str, ...], longer: str, shorter: str) -> bool:
    a = " " + " ".join(_words(options[LETTERS.index(longer)])) + " "
    b = " " + " ".join(_words(options[LETTERS.index(shorter)])) + " "
    return len(a) > len(b) and b in a
