"""Inputs for the caption-metric tests, made from the YouCook2 validation annotations (../shared/dense).

Perturbations are seeded, so the expected figures (computed with the official scripts beside ours on the same
files, see tests/test_dense_metrics.py) stay valid.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from support.paths import SHARED

YC2 = SHARED / "dense" / "yc2_val.json"


def youcook2() -> dict:
    return json.loads(YC2.read_text())


def subset(refs: dict, n: int, separate: bool = False) -> dict:
    """The first n videos; with `separate`, only videos none of whose events overlap another by tIoU >= 0.3
    (there an exact copy of the references pairs each prediction with its own event only)."""
    from codecvdc_assets.evaluation.dense.protocols import tiou

    def ok(v: str) -> bool:
        spans = refs[v]["timestamps"]
        return all(tiou(a, b) < 0.3 for i, a in enumerate(spans) for b in spans[i + 1 :])

    return {v: refs[v] for v in [v for v in sorted(refs) if not separate or ok(v)][:n]}


def as_predictions(refs: dict, shift: float = 0.0, shuffle_seed: int | None = None) -> dict:
    """The references as predictions: each event's span moved by `shift` x its length; with a seed, the
    sentences dealt to other events (of any video)."""
    sentences = [s for v in sorted(refs) for s in refs[v]["sentences"]]
    if shuffle_seed is not None:
        rng = random.Random(shuffle_seed)
        rng.shuffle(sentences)
    results, k = {}, 0
    for v in sorted(refs):
        items = []
        for (start, end), _ in zip(refs[v]["timestamps"], refs[v]["sentences"], strict=True):
            move = shift * (end - start)
            items.append({"sentence": sentences[k], "timestamp": [start + move, end + move]})
            k += 1
        results[v] = items
    return {"version": "VERSION 1.0", "results": results, "external_data": {"used": False, "details": ""}}


def perturbed(refs: dict, seed: int = 7) -> dict:
    """Shifted spans (0-150 % of the event), word-shuffled sentences, punctuation, extra predictions that
    overlap nothing, a non-ASCII sentence, a video with no predictions, one with an empty list, one the
    references do not have."""
    rng = random.Random(seed)
    results = {}
    for i, v in enumerate(sorted(refs)):
        r, items = refs[v], []
        for (start, end), sentence in zip(r["timestamps"], r["sentences"], strict=True):
            move = rng.choice([0, 0.1, 0.3, 0.6, 1.5]) * (end - start)
            words = sentence.split()
            if rng.random() < 0.4 and len(words) > 3:
                rng.shuffle(words)
            tail = rng.choice(["", ".", " !", ", ok"])
            items.append({"sentence": " ".join(words) + tail, "timestamp": [start + move, end + move]})
        if i % 5 == 0:
            items.append(
                {"sentence": "a person talks about abc123 @ #", "timestamp": [r["duration"] + 5, r["duration"] + 9]}
            )
        if i % 7 == 0:
            items.append({"sentence": "the chef's knife \u00e9minces onions (finely)", "timestamp": [0, r["duration"]]})
        if i == 3:
            items = []
        if i == 4:
            continue
        results[v] = items
    results["v_not_in_references"] = [{"sentence": "nothing", "timestamp": [0, 1]}]
    return {"version": "VERSION 1.0", "results": results, "external_data": {"used": False, "details": ""}}


def _game_time(half: int, t: int) -> str:
    return f"{half} - {t // 60:02d}:{t % 60:02d}"


def write_soccernet(labels_root: Path, predictions_root: Path, games: list[str], refs: dict, seed: int = 3) -> None:
    """SoccerNet-Caption files for `games` (two halves each), the comments of one YouCook2 video per half at
    its events' start seconds; predictions shifted by -40..40 s (the window's edge included), word-shuffled,
    plus commentary far from any reference."""
    rng = random.Random(seed)
    videos = sorted(refs)
    for g, game in enumerate(games):
        annotations, predictions = [], []
        for half in (1, 2):
            r = refs[videos[(2 * g + half - 1) % len(videos)]]
            for (start, _), sentence in zip(r["timestamps"], r["sentences"], strict=True):
                t = int(start)
                annotations.append({"gameTime": _game_time(half, t), "label": "comments", "anonymized": sentence})
                dt = rng.choice([-40, -30, -29, -15, -5, 0, 0, 3, 14, 16, 29, 30, 31, 40])
                words = sentence.split()
                if rng.random() < 0.3:
                    rng.shuffle(words)
                predictions.append(
                    {"gameTime": _game_time(half, max(0, t + dt)), "label": "comments", "comment": " ".join(words)}
                )
            predictions.append(
                {"gameTime": _game_time(half, 5000 + g), "label": "comments", "comment": "a quiet spell"}
            )
        annotations.append({"gameTime": "3 - 00:10", "label": "comments", "anonymized": "extra time is ignored"})
        for root, key, items in (
            (labels_root, "annotations", annotations),
            (predictions_root, "predictions", predictions),
        ):
            folder = root / game
            folder.mkdir(parents=True, exist_ok=True)
            name = "Labels-caption.json" if key == "annotations" else "results_dense_captioning.json"
            (folder / name).write_text(json.dumps({"UrlLocal": game, key: items}))


def split_references(refs: dict) -> tuple[dict, dict]:
    """Two reference files, as ActivityNet's val_1 / val_2: the first half of each video's events, and the
    second half (overlapping by one event) for two videos in three."""
    first, second = {}, {}
    for i, (v, r) in enumerate(sorted(refs.items())):
        k = max(1, len(r["timestamps"]) // 2)
        first[v] = {"duration": r["duration"], "timestamps": r["timestamps"][:k], "sentences": r["sentences"][:k]}
        if i % 3:
            second[v] = {
                "duration": r["duration"],
                "timestamps": r["timestamps"][k - 1 :],
                "sentences": r["sentences"][k - 1 :],
            }
    return first, second
