"""A table of captions through every gate: the single-caption flags, then duplicate and collapse."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from codecvdc_assets.quality.duplicates import Caption, collapse_flags, duplicate_flags
from codecvdc_assets.quality.gates import Flag, caption_flags
from codecvdc_assets.quality.settings import QualitySettings


@dataclass(frozen=True)
class CaptionRow:
    key: Hashable
    video: str  # duplicates are looked for across videos, collapse within one
    text: str | None
    prompt: str | None = None  # the instruction the caption answered (prompt_echo)
    finish_reason: str | None = None


def flag_rows(
    rows: Sequence[CaptionRow],
    settings: QualitySettings,
    duplicates: bool = True,
    collapse: bool = True,
) -> dict[Hashable, list[Flag]]:
    """Every row's flags (an empty list for a clean row), in the order of FLAGS within a row.

    duplicates: look for the same caption across videos (video-level captions: narratives, direct,
    LongCaption); collapse: one video's captions all one sentence (residuals, per-second captions)."""
    flags: dict[Hashable, list[Flag]] = {
        r.key: caption_flags(r.text, settings, r.prompt, r.finish_reason) for r in rows
    }
    captions = [Caption(r.key, r.video, r.text or "") for r in rows]
    extra: list[dict[Hashable, Flag]] = []
    if duplicates:
        extra.append(duplicate_flags(captions, settings))
    if collapse:
        extra.append(collapse_flags(captions, settings))
    for found in extra:
        for key, flag in found.items():
            flags[key].append(flag)
    return flags
