"""One function per flag on a single caption: each returns a Flag (with the measured value) or None.

The rules and their thresholds (QualitySettings, the profile's `quality:` section):

- empty: nothing but white space, quote marks or invisible characters;
- placeholder: the whole caption is a stand-in (N/A, none, [caption], ..., TODO), or it holds lorem ipsum
  or a template slot ([insert caption], <caption>, {caption});
- repetition: a word sequence repeated back to back (repetition_min_copies copies covering at least
  repetition_min_words words), the share of repeated word n-grams (1 - unique / total) above
  repetition_max_rate, or the zlib compression ratio of some window of the text above compression_max_ratio
  (Whisper's loop test; it also sees loops in scripts written without spaces);
- truncated: finish reason "length"; a last word or mark that cannot end a sentence ("the", "and", a
  comma, an unclosed quote or bracket); or a punctuated text whose last sentence has no end mark;
- refusal: first-person apologies or inability ("I'm sorry", "I cannot describe", "as an AI") outside
  quotes;
- prompt_echo: the share of the caption's word n-grams found in the prompt above echo_max_share;
- language: letters outside the Latin script above language_max_foreign_letters, or (enough words) another
  language's stop words outnumbering the profile language's (at least language_min_stop_share of the words).
  Quoted text (a sign, a title, speech) is left out of both measures.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from codecvdc_assets.quality.language import foreign_letter_share, stop_word_shares
from codecvdc_assets.quality.settings import QualitySettings
from codecvdc_assets.quality.text import ngrams, unquoted, words


@dataclass(frozen=True)
class Flag:
    flag: str
    value: float  # the measured value the rule compared with its threshold (1.0 for yes/no rules)
    detail: str  # one line: what was measured, e.g. "3-gram repetition 0.71 > 0.40"

    def as_dict(self) -> dict[str, object]:
        return {"flag": self.flag, "value": round(self.value, 4), "detail": self.detail}


_INVISIBLE = re.compile(r"[\s\"'`“”‘’«»\u200b\u200c\u200d\u2060\ufeff]*")


def empty(text: str | None, settings: QualitySettings) -> Flag | None:
    if text is None or _INVISIBLE.fullmatch(text):
        return Flag("empty", float(len(text or "")), "no visible text")
    return None


_PLACEHOLDER_WHOLE = re.compile(
    r"(n/?a|none|null|nil|nan|undefined|tbd|tba|todo|fixme|placeholder|caption|description|no caption|"
    r"no description|caption here|description here|insert caption here|your caption here|untitled|"
    r"x{2,}|-+|_+|\*+|\?+|\.{2,}|…+|\.\s*\.\s*\.)",
    re.IGNORECASE,
)
_PLACEHOLDER_PART = re.compile(
    r"lorem ipsum|dolor sit amet|"
    r"\[\s*(caption|description|insert[^\]]{0,40}|your [^\]]{0,40}|placeholder|todo|tbd|text here|"
    r"video description|describe[^\]]{0,40})\s*\]|"
    r"<\s*(caption|description|placeholder|insert[^>]{0,40})\s*>|"
    r"\{\{\s*\w+\s*\}\}|\{(caption|description|text|video|frame|answer|output|response)\}",
    re.IGNORECASE,
)


def placeholder(text: str, settings: QualitySettings) -> Flag | None:
    stripped = text.strip().strip("\"'`“”‘’()").strip()
    if any(_PLACEHOLDER_WHOLE.fullmatch(c) for c in (stripped, stripped.rstrip(".!").strip()) if c):
        return Flag("placeholder", 1.0, f"the whole caption is a placeholder: {stripped[:40]!r}")
    match = _PLACEHOLDER_PART.search(text)
    if match:
        return Flag("placeholder", 1.0, f"placeholder text {match.group(0)[:40]!r}")
    return None


def ngram_repetition(tokens: list[str], n: int) -> tuple[float, int]:
    """(1 - unique / total n-grams, total): 0.0 when every n-gram is new."""
    grams = ngrams(tokens, n)
    if not grams:
        return 0.0, 0
    return 1 - len(set(grams)) / len(grams), len(grams)


def compression_ratio(text: str) -> float:
    """Bytes / zlib-compressed bytes, as Whisper's decoder measures a segment (loops compress well)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def max_window_compression(text: str, window: int, min_chars: int) -> float:
    """The highest compression ratio over windows of `window` characters (half-overlapping); 0.0 when the
    text is shorter than `min_chars`. A loop at the end of a long caption fills a whole window."""
    if len(text) < min_chars:
        return 0.0
    if len(text) <= window:
        return compression_ratio(text)
    step = max(1, window // 2)
    starts = [*range(0, len(text) - window, step), len(text) - window]
    return max(compression_ratio(text[s : s + window]) for s in starts)


def longest_loop(tokens: list[str], max_period: int) -> tuple[int, int]:
    """(copies, period) of the longest run of a word sequence repeated back to back ("a butterfly, a
    butterfly, a butterfly" -> (3, 2)); (1, 0) when nothing repeats. All periods at once: column p-1 of
    `same` says whether a word equals the word p before it; a loop of c copies is a run of (c-1)*p."""
    n = len(tokens)
    periods = min(max_period, n // 2)
    if periods < 1:
        return 1, 0
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(t, len(index)) for t in tokens), dtype=np.int64, count=n)
    if len(index) == n:  # no word twice: no loop
        return 1, 0
    padded = np.concatenate([ids, -1 - np.arange(periods)])  # distinct fillers: nothing repeats past the end
    windows = np.lib.stride_tricks.sliding_window_view(padded, periods + 1)[:n]
    same = windows[:, 1:] == windows[:, :1]  # (position, period)
    count = same.cumsum(axis=0)
    runs = count - np.maximum.accumulate(np.where(same, 0, count), axis=0)  # current run length per cell
    longest = runs.max(axis=0)
    lengths = np.arange(1, periods + 1)
    copies = 1 + longest // lengths
    covered = np.where(copies >= 2, copies * lengths, 0)
    best = int(covered.argmax())
    return (int(copies[best]), best + 1) if covered[best] else (1, 0)


def repetition(text: str, settings: QualitySettings) -> Flag | None:
    tokens = words(text)
    copies, period = longest_loop(tokens, settings.repetition_max_period)
    if copies >= settings.repetition_min_copies and copies * period >= settings.repetition_min_words:
        return Flag("repetition", float(copies), f"{copies} copies in a row of a {period}-word sequence")
    n = settings.repetition_ngram
    rate, total = ngram_repetition(tokens, n)
    if total >= settings.repetition_min_ngrams and rate > settings.repetition_max_rate:
        return Flag("repetition", rate, f"{n}-gram repetition {rate:.2f} > {settings.repetition_max_rate:.2f}")
    ratio = max_window_compression(text, settings.compression_window_chars, settings.compression_min_chars)
    if ratio > settings.compression_max_ratio:
        return Flag("repetition", ratio, f"compression ratio {ratio:.2f} > {settings.compression_max_ratio:.2f}")
    return None


# Words a finished English sentence does not end on (articles, conjunctions, prepositions that need an
# object, auxiliaries, possessives); particles that can end one ("up", "on", "in", "over", "out") are not here.
_DANGLING_WORDS = frozenset(
    """a an the and or but nor of to with from into onto for at as whereas although because if whether
    than is are was were be been being has have had will would could should can may might must his their its
    my your our very which whose who whom toward towards during including such""".split()
)
_DANGLING_MARKS = (",", ":", ";", "-", "–", "—", "(", "[", "{", "/", "&", "+", "=")
_END_MARKS = tuple(".!?…。！？)]}\"'”’»」』*") + ("etc",)
_SENTENCE_END = re.compile(r"[.!?。！？](?=[\s\"'”’)]+\S)")


def truncated(text: str, settings: QualitySettings, finish_reason: str | None = None) -> Flag | None:
    if finish_reason == "length":
        return Flag("truncated", 1.0, "finish reason 'length': stopped at max_tokens")
    body = text.rstrip()
    if not body:
        return None
    if body.endswith(_DANGLING_MARKS):
        return Flag("truncated", 1.0, f"ends on {body[-1]!r}")
    if body.count('"') % 2 or body.count("“") > body.count("”") or body.count("(") > body.count(")"):
        return Flag("truncated", 1.0, "an opened quote or bracket is never closed")
    tokens = words(body)
    if body.endswith(_END_MARKS):
        return None
    if tokens and tokens[-1] in _DANGLING_WORDS:
        return Flag("truncated", 1.0, f"ends on {tokens[-1]!r}")
    # A writer who ends sentences with a mark but not the last one: the last sentence was cut.
    ends = list(_SENTENCE_END.finditer(body))
    if ends:
        last = words(body[ends[-1].end() :])
        if len(last) >= settings.truncated_min_words:
            return Flag("truncated", float(len(last)), f"the last sentence ({len(last)} words) has no end mark")
    return None


# First-person refusals, apologies and "as an AI" disclaimers; matched outside quotes only.
_REFUSAL = re.compile(
    r"\bas an? (ai|a\.i\.|artificial intelligence|language model|llm|ai language model|ai assistant|"
    r"text-based (ai|model))\b|"
    r"\bi(?:'m| am) (?:really |very |so |truly )?(sorry|afraid|unable|not able|not capable)\b|"
    r"\bi (?:can ?not|can't|won't|will not|am not able to|'m not able to|do not|don't|could not|couldn't) "
    r"(help|assist|provide|describe|see|view|access|process|analy[sz]e|identify|watch|comply|fulfil|fulfill|"
    r"generate|caption|open|display|interpret|determine|tell|make out)\b|"
    r"\bi apologi[sz]e\b|\bmy apologies\b|\bsorry,? (?:but )?i\b|"
    r"\b(?:unable|not able) to (?:view|see|access|process|analy[sz]e|watch|describe|display|open) "
    r"(?:the |this |these |that |any |your )?(?:image|video|frame|clip|picture|content|file|media|attachment)s?\b|"
    r"\bi (?:do not|don't) have (?:the )?(?:ability|capability|access|means)\b|"
    r"\b(?:against|violates?) (?:my|our|the) (?:guidelines|content polic(?:y|ies)|usage polic(?:y|ies))\b|"
    r"\bi must (?:decline|refuse)\b",
    re.IGNORECASE,
)


def refusal(text: str, settings: QualitySettings) -> Flag | None:
    own = unquoted(text).replace("’", "'")
    match = _REFUSAL.search(own)
    if match:
        return Flag("refusal", 1.0, f"refusal phrase {match.group(0)!r}")
    return None


def prompt_echo(text: str, prompt: str | None, settings: QualitySettings) -> Flag | None:
    if not prompt:
        return None
    n = settings.echo_ngram
    caption_grams = ngrams(words(text), n)
    if len(caption_grams) < settings.echo_min_ngrams:
        return None
    prompt_grams = set(ngrams(words(prompt), n))
    share = sum(1 for g in caption_grams if g in prompt_grams) / len(caption_grams)
    if share > settings.echo_max_share:
        return Flag("prompt_echo", share, f"{share:.0%} of the caption's {n}-grams are the prompt's")
    return None


def language(text: str, settings: QualitySettings) -> Flag | None:
    own = unquoted(text)
    foreign = foreign_letter_share(own)
    if foreign > settings.language_max_foreign_letters:
        return Flag("language", foreign, f"{foreign:.0%} of the letters are not Latin script")
    tokens = [t for t in words(own) if not t.isdigit()]
    if len(tokens) < settings.language_min_words:
        return None
    shares = stop_word_shares(tokens)
    ours = shares[settings.language]
    other, best = max(((lang, s) for lang, s in shares.items() if lang != settings.language), key=lambda p: p[1])
    if best > ours and best >= settings.language_min_stop_share:
        return Flag("language", ours, f"{other} stop words {best:.0%} outnumber {settings.language} {ours:.0%}")
    return None


def caption_flags(
    text: str | None,
    settings: QualitySettings,
    prompt: str | None = None,
    finish_reason: str | None = None,
) -> list[Flag]:
    """Every single-caption flag of one caption (duplicate and collapse need the other captions:
    duplicates.py). An empty caption gets only `empty`; a placeholder is not also judged for language."""
    nothing = empty(text, settings)
    if nothing is not None:
        return [*([truncated("", settings, finish_reason)] if finish_reason == "length" else []), nothing]
    assert text is not None
    stand_in = placeholder(text, settings)
    if stand_in is not None:
        return [stand_in]
    found = [
        repetition(text, settings),
        truncated(text, settings, finish_reason),
        refusal(text, settings),
        prompt_echo(text, prompt, settings),
        language(text, settings),
    ]
    return [f for f in found if f is not None]
