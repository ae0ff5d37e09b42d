"""Fitting a caption into the VidCapQA answerer's window (DESIGN section 16), never silently.

A question is asked with the whole caption when its request fits the text model's window
(models/budget.py). When it does not, the caption is *fitted*, and the answer row says so
(`caption_fitted`; score rows count them in `n_fitted`):

- `codeccap:all` keeps whole levels in this priority order: the video narrative, then the scene
  narratives, then the stream (anchors + residuals); the most condensed levels first, because they cover
  the whole video in the fewest words. The first level that does not fit whole is cut by the rule below,
  the ones after it are left out; the kept text stays in the source's order (stream, scenes, video).
- any other source (and a cut level) keeps an evenly spread subset of its sentences, as many as fit,
  in order, with an ellipsis where sentences were left out: every part of the video keeps some words,
  instead of the end of a long video disappearing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ALL_PRIORITY = ("codeccap:video", "codeccap:scene", "codeccap:stream")  # codeccap:all, kept in this order
ALL_ORDER = ("codeccap:stream", "codeccap:scene", "codeccap:video")  # how codeccap:all reads (sources.py)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
GAP = " \u2026 "

Fits = Callable[[str], bool]  # caption -> does its request fit the window


def spread(text: str, fits: Fits) -> str:
    """The most sentences of `text`, evenly spread and in order, whose request fits ('' if none does)."""
    if fits(text):
        return text
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    low, high = 0, len(sentences) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if fits(_pick(sentences, mid)):
            low = mid
        else:
            high = mid - 1
    return _pick(sentences, low)


def _pick(sentences: list[str], k: int) -> str:
    if k <= 0:
        return ""
    if k >= len(sentences):
        return " ".join(sentences)
    idx = sorted({round(i * (len(sentences) - 1) / max(1, k - 1)) for i in range(k)})
    out = sentences[idx[0]]
    for prev, cur in zip(idx, idx[1:], strict=False):
        out += (" " if cur == prev + 1 else GAP) + sentences[cur]
    return out


def fit_caption(source: str, caption: str, sources: dict[str, str], fits: Fits) -> tuple[str, bool]:
    """(the caption to ask with, whether it had to be fitted)."""
    if fits(caption):
        return caption, False
    if source == "codeccap:all" and all(sources.get(k) for k in ALL_PRIORITY):
        kept: dict[str, str] = {}

        def joined(extra: dict[str, str]) -> str:
            return "\n\n".join(extra[k] for k in ALL_ORDER if extra.get(k))

        for level in ALL_PRIORITY:
            whole = {**kept, level: sources[level]}
            if fits(joined(whole)):
                kept = whole
                continue
            base = dict(kept)
            part = spread(sources[level], lambda text, base=base, level=level: fits(joined({**base, level: text})))
            if part:
                kept[level] = part
            break
        return joined(kept), True
    return spread(caption, fits), True
