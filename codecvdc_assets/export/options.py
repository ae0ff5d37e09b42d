"""What an export writes: formats, caption levels, splits and video filters, validated up front (a bad
value is one clear line before anything is written)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("hf", "webdataset", "swift")
# --levels name -> the Hugging Face config (and lake table) holding it.
LEVELS = {
    "anchors": "anchors",
    "residuals": "residuals",
    "scenes": "scene_narratives",
    "videos": "video_narratives",
    "chapters": "chapter_narratives",  # long videos' intermediate levels; asked for with --levels
}
DEFAULT_LEVELS = ("anchors", "residuals", "scenes", "videos")
SPLIT_NAMES = ("train", "val", "validation", "test")
DEFAULT_SPLITS = {"train": 0.98, "val": 0.01, "test": 0.01}
DEFAULT_SHARD_MB = 128.0


class ExportError(ValueError):
    """Bad export input (an option, the output folder): the message is the one line a user sees."""


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = ("hf",)
    levels: tuple[str, ...] = DEFAULT_LEVELS
    splits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    videos: tuple[str, ...] = ()  # empty: every video
    include_frames: bool = False
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    shard_mb: float = DEFAULT_SHARD_MB  # target size of a shard's rows in memory (its file is ~10x smaller)
    include_flagged: bool = False  # keep captions the quality gates flagged (left out by default)

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ExportError(f"unknown format {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad or not self.levels:
            raise ExportError(f"unknown level {', '.join(bad) or '(none)'}; choose from {', '.join(LEVELS)}")
        check_splits(self.splits)
        for name in ("min_duration_s", "max_duration_s"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ExportError(f"{name.removesuffix('_s').replace('_', '-')}: {value} is not a duration >= 0 s")
        if (self.min_duration_s or 0) > (self.max_duration_s if self.max_duration_s is not None else float("inf")):
            raise ExportError(f"min-duration {self.min_duration_s} s is above max-duration {self.max_duration_s} s")
        if not self.shard_mb > 0:
            raise ExportError(f"shard size {self.shard_mb} MB must be > 0")

    @property
    def configs(self) -> list[str]:
        """The level configs in the order of LEVELS (plus `videos`, the metadata, always)."""
        return [LEVELS[lv] for lv in LEVELS if lv in self.levels]

    def describe(self) -> dict[str, Any]:
        """The options as plain data (manifest, card, asset code version)."""
        return {
            "formats": list(self.formats),
            "levels": list(self.levels),
            "splits": self.splits,
            "videos": list(self.videos),
            "include_frames": self.include_frames,
            "min_duration_s": self.min_duration_s,
            "max_duration_s": self.max_duration_s,
            "shard_mb": self.shard_mb,
            **({"include_flagged": True} if self.include_flagged else {}),
        }

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any], where: str = "export") -> ExportOptions:
        """From a profile's `export:` section (keys as the CLI flags; lists or comma-separated strings)."""
        known = {"out", "format", "formats", "levels", "splits", "video", "videos", "include_frames"}
        known |= {"min_duration", "max_duration", "shard_mb", "include_flagged"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ExportError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        splits = section.get("splits")
        try:
            return cls(
                formats=_names(section.get("formats", section.get("format", "hf"))),
                levels=_names(section.get("levels", ",".join(DEFAULT_LEVELS))),
                splits=parse_splits(splits) if isinstance(splits, str) else dict(splits or DEFAULT_SPLITS),
                videos=_names(section.get("videos", section.get("video", ()))),
                include_frames=bool(section.get("include_frames", False)),
                min_duration_s=_float(section.get("min_duration")),
                max_duration_s=_float(section.get("max_duration")),
                shard_mb=float(section.get("shard_mb", DEFAULT_SHARD_MB)),
                include_flagged=bool(section.get("include_flagged", False)),
            )
        except ExportError as exc:
            raise ExportError(f"{where}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ExportError(f"{where}: {exc}") from exc


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_levels(text: str) -> tuple[str, ...]:
    return _names(text)


def parse_splits(text: str) -> dict[str, float]:
    """``train=0.98,val=0.01,test=0.01`` -> {split: share}; the shares must sum to 1."""
    splits: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not sep or not name.strip() or share < 0:
            raise ExportError(f"splits: {part!r} is not NAME=SHARE (e.g. train=0.98,val=0.01,test=0.01)")
        splits[name.strip()] = share
    check_splits(splits)
    return splits


def check_splits(splits: Mapping[str, float]) -> None:
    if not splits:
        raise ExportError("splits: none given (e.g. train=0.98,val=0.01,test=0.01)")
    bad = [s for s in splits if s not in SPLIT_NAMES]
    if bad:
        raise ExportError(f"splits: unknown split {', '.join(bad)}; choose from {', '.join(SPLIT_NAMES)}")
    total = sum(splits.values())
    if any(v < 0 for v in splits.values()) or abs(total - 1.0) > 1e-6:
        raise ExportError(f"splits: shares must be >= 0 and sum to 1 (they sum to {total:g})")
