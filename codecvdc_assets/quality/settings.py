"""The thresholds of the caption quality gates, read from the profile's `quality:` section.

Every rule's numbers live here with the profile key that sets them; README "Caption quality gates" says
why each default is what it is. Unknown keys are an error naming the key (a typo must not silently leave
a default in place).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from codecvdc_assets.schemas import QUALITY_FLAGS

FLAGS = tuple(QUALITY_FLAGS)


@dataclass(frozen=True)
class QualitySettings:
    # The caption language: stop words (quality/language.py STOP_WORDS) and the Latin script.
    language: str = "en"
    # repetition: a loop (a word sequence repeated back to back), the share of repeated word n-grams
    # (1 - unique / total), or Whisper's zlib compression ratio (catches loops in scripts without spaces).
    repetition_max_period: int = 40  # longest repeated sequence looked for, in words
    repetition_min_copies: int = 3  # back-to-back copies that make a loop...
    repetition_min_words: int = 8  # ...covering at least this many words ("left, left, left" is not one)
    repetition_ngram: int = 3
    repetition_min_ngrams: int = 4  # captions with fewer n-grams are too short to call a loop
    repetition_max_rate: float = 0.7  # templated long captions of the embedded model reach 0.58
    compression_min_chars: int = 120  # below this zlib's header dominates the ratio
    compression_max_ratio: float = 3.5  # Whisper: 2.4 on speech; templated captions reach 3.2, loops 4-19
    compression_window_chars: int = 600  # long texts are measured window by window (max over windows)
    # truncated: finish reason "length", a dangling last word / mark, or a punctuated text whose last
    # sentence has no end mark.
    truncated_min_words: int = 4
    # prompt_echo: share of the caption's word n-grams found in the prompt's instruction text.
    echo_ngram: int = 4
    echo_min_ngrams: int = 3
    echo_max_share: float = 0.5
    # language: share of letters outside the caption script (quoted text ignored), and stop words.
    language_max_foreign_letters: float = 0.2
    language_min_words: int = 6  # the stop-word test needs this many words outside quotes
    language_min_stop_share: float = 0.08  # below this share of the profile language's stop words: flagged
    # duplicate: near-identical captions of different videos (MinHash LSH over word shingles).
    duplicate_shingle: int = 2
    duplicate_threshold: float = 0.7  # Jaccard similarity of the word-bigram sets (verified exactly)
    duplicate_num_perm: int = 64
    duplicate_min_words: int = 12  # shorter captions are flagged only when many videos share them
    duplicate_short_min_videos: int = 25  # ...this many videos with one short caption (e.g. "A black screen.")
    # collapse: one video's residuals / per-second captions nearly all the same sentence.
    collapse_min_rows: int = 6
    collapse_max_share: float = 0.9  # share of the video's captions that are one sentence (digits folded)
    # policy (pipeline): re-asks of a flagged answer, and the asset check's failing flag rate.
    reask_attempts: int = 2
    reask_temperature: float = 0.7
    check_max_rate: float = 0.05
    export_exclude_flagged: bool = True

    @classmethod
    def from_profile(cls, profile: dict[str, Any] | None) -> QualitySettings:
        section = (profile or {}).get("quality") or {}
        if not isinstance(section, dict):
            raise ValueError("profile quality: must be a mapping")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise ValueError(f"profile quality: unknown key(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in section.items():
            default = getattr(cls, key)
            kind = type(default)
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"profile quality.{key}: {value!r} is not true/false")
            elif kind in (int, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"profile quality.{key}: {value!r} is not a number")
                if value < 0:
                    raise ValueError(f"profile quality.{key}: {value!r} is negative")
                value = kind(value)
            elif not isinstance(value, str):
                raise ValueError(f"profile quality.{key}: {value!r} is not text")
            values[key] = value
        settings = cls(**values)
        from codecvdc_assets.quality.language import STOP_WORDS

        if settings.language not in STOP_WORDS:
            raise ValueError(
                f"profile quality.language: {settings.language!r} is not supported ({', '.join(sorted(STOP_WORDS))})"
            )
        return settings
