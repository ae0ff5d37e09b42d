"""Which captioning strategies a profile runs (`strategies:` in resources/<profile>.yaml).

A dataset build needs CodecCap only (`strategies: [codeccap]`); an evaluation compares it with the
baselines and LongCaption-Agent (the embedded demo runs all of them, the default). The Dagster graph, and so
`codecvdc run`, the sensors, the schedule and the UI's jobs, holds the assets of the named strategies only;
VidCapQA answers every caption source those strategies make.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# strategy -> the per-video assets it adds (CodecCap's are the chain; the others are baselines)
STRATEGIES: dict[str, tuple[str, ...]] = {
    "codeccap": (
        "anchors", "residuals", "evidence", "scene_narratives", "video_narratives", "chapter_narratives",
    ),
    "direct": ("direct_captions",),
    "per_second": ("per_second_captions",),
    "longcaption": ("longcap_frames", "longcap_clips", "longcap_video", "longcap_sections"),
}  # fmt: skip
ALL = tuple(STRATEGIES)


def profile_strategies(profile: dict[str, Any]) -> tuple[str, ...]:
    """The profile's strategies in the canonical order (default: all); one clear error for a bad value."""
    value = profile.get("strategies")
    if value is None:
        return ALL
    where = f"profile {profile.get('name', '(inline)')}: strategies"
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"{where} must be a list such as [codeccap], not {value!r}")
    names = [str(v) for v in value]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"{where}: unknown {', '.join(unknown)}; known: {', '.join(ALL)}")
    if "codeccap" not in names:
        raise ValueError(f"{where} must include codeccap (the platform's captions; the others are baselines)")
    return tuple(s for s in ALL if s in names)


def strategy_assets(strategies: Iterable[str]) -> set[str]:
    return {a for s in strategies for a in STRATEGIES[s]}


def dropped_assets(strategies: Iterable[str]) -> set[str]:
    """The strategy assets a profile leaves out of the graph."""
    return strategy_assets(ALL) - strategy_assets(strategies)
