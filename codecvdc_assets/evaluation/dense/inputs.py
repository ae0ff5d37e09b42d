"""Dense-captioning references and predictions: the ActivityNet Captions JSON layouts, and SoccerNet-Caption's.

- references `{video: {"duration": s, "timestamps": [[start, end], ...], "sentences": [...]}}` (ActivityNet
  Captions, YouCook2 as PDVC ships it); for the single-timestamp protocol `"timestamps": [t, ...]`;
- predictions `{"results": {video: [{"sentence": ..., "timestamp": [start, end]}]}}` (`"timestamp": t` for
  the single-timestamp protocol); `version` and `external_data`, which the official script insists on, are
  optional here;
- SoccerNet-Caption: `Labels-caption.json` (`annotations`: `gameTime` "H - MM:SS", `label`, `anonymized`)
  and `results_dense_captioning.json` (`predictions`: `gameTime`, `label`, `comment`), single files or
  folders of games (`league/season/game/<file>.json`); each half of a game is one video, `<game>/<half>`.

Every problem is a DenseInputError naming the file and, where it applies, the video and the entry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DenseInputError(ValueError):
    pass


@dataclass(frozen=True)
class Event:
    """A reference event or a prediction: [start, end] in seconds (start == end for a single timestamp)."""

    start: float
    end: float
    sentence: str


Videos = dict[str, list[Event]]  # video id -> events (reference events, or predictions in file order)

# SoccerNet-Caption's caption labels (SoccerNet's EVENT_DICTIONARY_CAPTION_V2): annotations with any other
# label, and anything past the second half, are not evaluated.
SOCCERNET_LABELS = frozenset(
    "corner substitution y-card whistle soccer-ball injury penalty yr-card r-card soccer-ball-own "
    "penalty-missed comments".split()
) | {""}
SOCCERNET_REFERENCES = "Labels-caption.json"


def _load_json(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise DenseInputError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise DenseInputError(f"{path}: a folder, expected a JSON file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DenseInputError(f"{path}: not JSON ({exc})") from exc


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DenseInputError(f"{where}: timestamp {value!r} is not a finite number")
    return float(value)


def _span(value: Any, where: str, single: bool) -> tuple[float, float]:
    if single:
        t = _number(value, where)
        return t, t
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise DenseInputError(f"{where}: timestamp {value!r} is not [start, end]")
    return _number(value[0], where), _number(value[1], where)


def _sentence(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DenseInputError(f"{where}: sentence {value!r} is not a string")
    return value


def load_references(path: str | Path, single: bool = False) -> tuple[Videos, dict[str, float]]:
    """(video -> events, video -> duration) from an ActivityNet-layout file or a SoccerNet file/folder."""
    if Path(path).is_dir() or _is_soccernet(path):
        return load_soccernet(path, references=True), {}
    data = _load_json(path)
    if not isinstance(data, dict) or not data:
        raise DenseInputError(f"{path}: expected a non-empty object {{video: {{timestamps, sentences}}}}")
    videos: Videos = {}
    durations: dict[str, float] = {}
    for vid, entry in data.items():
        where = f"{path}: video {vid}"
        if not isinstance(entry, dict) or "timestamps" not in entry or "sentences" not in entry:
            raise DenseInputError(f"{where}: needs 'timestamps' and 'sentences'")
        stamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
            raise DenseInputError(f"{where}: 'timestamps' and 'sentences' must be lists of the same length")
        if not stamps:
            raise DenseInputError(f"{where}: no events (recall is undefined for a video without references)")
        events = []
        for i, (stamp, sentence) in enumerate(zip(stamps, sentences, strict=True)):
            start, end = _span(stamp, f"{where}, event {i}", single)
            events.append(Event(start, end, _sentence(sentence, f"{where}, event {i}")))
        videos[str(vid)] = events
        if "duration" in entry:
            durations[str(vid)] = _number(entry["duration"], f"{where}: duration")
    return videos, durations


def load_predictions(path: str | Path, single: bool = False) -> Videos:
    """video -> predictions in file order, from `{"results": {...}}` or a SoccerNet file/folder."""
    if Path(path).is_dir() or _is_soccernet(path):
        return load_soccernet(path, references=False)
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise DenseInputError(f'{path}: expected {{"results": {{video: [{{sentence, timestamp}}]}}}}')
    videos: Videos = {}
    for vid, items in data["results"].items():
        where = f"{path}: video {vid}"
        if not isinstance(items, list):
            raise DenseInputError(f"{where}: predictions must be a list")
        events = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "sentence" not in item or "timestamp" not in item:
                raise DenseInputError(f"{where}, prediction {i}: needs 'sentence' and 'timestamp'")
            start, end = _span(item["timestamp"], f"{where}, prediction {i}", single)
            events.append(Event(start, end, _sentence(item["sentence"], f"{where}, prediction {i}")))
        videos[str(vid)] = events
    return videos


def _is_soccernet(path: str | Path) -> bool:
    if not str(path).endswith(".json") or not Path(path).is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return b'"annotations"' in head or b'"predictions"' in head or b'"UrlLocal"' in head


def game_time(value: Any, where: str) -> tuple[int, int]:
    """(half, seconds) of a SoccerNet gameTime "H - MM:SS"."""
    try:
        half_text, clock = str(value).split(" - ")
        minutes, seconds = clock.split(":")
        return int(half_text), int(seconds) + 60 * int(minutes)
    except ValueError as exc:
        raise DenseInputError(f"{where}: gameTime {value!r} is not 'H - MM:SS'") from exc


def _soccernet_file(path: Path, game: str, references: bool) -> Videos:
    data = _load_json(path)
    key, text = ("annotations", "anonymized") if references else ("predictions", "comment")
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise DenseInputError(f"{path}: expected a SoccerNet-Caption file with a list '{key}'")
    halves: dict[int, list[Event]] = {1: [], 2: []}
    for i, item in enumerate(data[key]):
        where = f"{path}: {key}[{i}]"
        if not isinstance(item, dict) or "gameTime" not in item or text not in item:
            raise DenseInputError(f"{where}: needs 'gameTime' and '{text}'")
        half, t = game_time(item["gameTime"], where)
        if item.get("label", "comments") not in SOCCERNET_LABELS or half > 2:
            continue
        halves.setdefault(half, []).append(Event(float(t), float(t), _sentence(item[text], where)))
    prefix = f"{game}/" if game else ""
    # Sorted by time, as SoccerNet's evaluation does (stable: ties keep file order).
    return {f"{prefix}{h}": sorted(events, key=lambda e: e.start) for h, events in halves.items() if h in (1, 2)}


def load_soccernet(path: str | Path, references: bool) -> Videos:
    """A SoccerNet-Caption file (videos "1", "2") or a folder of games (videos "<game>/1", "<game>/2")."""
    root = Path(path)
    if root.is_file():
        return _soccernet_file(root, "", references)
    if not root.is_dir():
        raise DenseInputError(f"{path}: no such file or folder")
    pattern = SOCCERNET_REFERENCES if references else "*.json"
    files = sorted(p for p in root.rglob(pattern) if (references or p.name != SOCCERNET_REFERENCES))
    if not files:
        raise DenseInputError(f"{path}: no SoccerNet-Caption {'labels' if references else 'prediction'} files")
    videos: Videos = {}
    for file in files:
        videos.update(_soccernet_file(file, file.parent.relative_to(root).as_posix(), references))
    return videos


def predictions_json(predictions: Videos, single: bool = False) -> dict[str, Any]:
    """Predictions in the ActivityNet layout (what `--from-lake` writes with `--save-predictions`)."""
    return {
        "version": "VERSION 1.0",
        "external_data": {"used": False, "details": "CodecVDC lake"},
        "results": {
            vid: [{"sentence": e.sentence, "timestamp": e.start if single else [e.start, e.end]} for e in events]
            for vid, events in predictions.items()
        },
    }
