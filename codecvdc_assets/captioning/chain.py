"""The four caption levels for one video, as plain functions over lake tables and a ModelClient.

Each function builds its model requests, runs them through the client (cache, validation, records)
and returns the rows of its table. `read_image(sha256) -> bytes` reads a stored frame.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd

from codecvdc_assets.captioning.evidence import Residual, accept
from codecvdc_assets.captioning.windows import Window, windows
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelCallError, ModelRequest
from codecvdc_assets.schemas import empty_frame

ImageReader = Callable[[str], bytes]


@dataclass(frozen=True)
class ChainSettings:
    window_size: int = 8
    window_overlap: int = 1
    residual_context: str = "anchor"  # anchor: requests carry the segment's anchor; none: frames only


def anchor_context(anchors: pd.DataFrame | None) -> dict[int, dict]:
    """Per segment, what a contextual residual request carries: the anchor caption and its entities
    (label, zone), so the model describes only changes and names subjects as the anchor did."""
    if anchors is None:
        return {}
    out = {}
    for row in anchors.itertuples():
        entities = [{"label": e.get("label", ""), "zone": e.get("zone", "none")} for e in json.loads(row.entities_json)]
        out[int(row.segment_idx)] = {"caption": row.caption, "entities": entities}
    return out


def n_words(text: str) -> int:
    return len(text.split())


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["segment_idx", "t_s"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------------ anchors


def anchor_requests(video_id: str, frames: pd.DataFrame, read_image: ImageReader, prompt: str) -> list[ModelRequest]:
    anchors = _frame(frames[frames["is_anchor"]])
    return [
        ModelRequest(
            "anchor",
            [
                m.system(prompt),
                m.user(
                    f"Scene {int(row.segment_idx)}, frame at {row.t_s:.2f} s.",
                    m.image_part(read_image(row.sha256)),
                ),
            ],
            SCHEMAS["anchor"],
            video_id=video_id,
            asset="anchors",
        )
        for row in anchors.itertuples()
    ]


def caption_anchors(
    video_id: str,
    frames: pd.DataFrame,
    read_image: ImageReader,
    client: ModelClient,
    prompt: str,
    version: str,
) -> pd.DataFrame:
    anchors = _frame(frames[frames["is_anchor"]])
    results = client.complete_many(anchor_requests(video_id, frames, read_image, prompt))
    rows = []
    for row, result in zip(anchors.itertuples(), results, strict=True):
        caption = result.data["caption"].strip()
        rows.append(
            {
                "video_id": video_id,
                "segment_idx": int(row.segment_idx),
                "t_s": float(row.t_s),
                "frame_sha256": row.sha256,
                "caption": caption,
                "n_words": n_words(caption),
                "entities_json": json.dumps(result.data.get("entities", []), ensure_ascii=False),
                "model": client.backend.model,
                "version": version,
            }
        )
    return pd.DataFrame(rows) if rows else empty_frame("anchors")


# ------------------------------------------------------------------------------------------ residuals


def residual_requests(
    video_id: str,
    frames: pd.DataFrame,
    read_image: ImageReader,
    prompt: str,
    settings: ChainSettings,
    anchors: pd.DataFrame | None = None,
) -> list[tuple[int, list[int], ModelRequest]]:
    """(segment_idx, frame positions of the window, request) for every window of every segment; with
    `residual_context: anchor` each request carries its segment's anchor (caption, entities)."""
    return list(residual_plan(video_id, frames, read_image, prompt, settings, anchors))


def residual_plan(
    video_id: str,
    frames: pd.DataFrame,
    read_image: ImageReader,
    prompt: str,
    settings: ChainSettings,
    anchors: pd.DataFrame | None = None,
    fits: Callable[[ModelRequest], bool] | None = None,
) -> Iterator[tuple[int, list[int], ModelRequest]]:
    """residual_requests, one window at a time (a long video's requests are made as they are sent). With
    `fits` (the vision model's budget, models/budget.py) a segment whose first window of `window_size`
    frames would not fit the window gets smaller windows (the largest that fits, at least 2 frames;
    overlap kept below the size): large frames in a small context; every pair is still captioned once."""
    if settings.residual_context == "anchor" and anchors is None:
        raise ValueError("residuals: residual_context is anchor but no anchors were given")
    context = anchor_context(anchors) if settings.residual_context == "anchor" else {}
    for segment_idx, seg in _frame(frames).groupby("segment_idx", sort=True):
        seg = seg.reset_index(drop=True)
        size, overlap = settings.window_size, settings.window_overlap
        if fits is not None:
            while size > 2 and len(seg) > 1:
                first = windows(len(seg), size, min(overlap, size - 1))[0]
                if fits(_residual_request(video_id, prompt, int(segment_idx), seg, first, context, read_image)):
                    break
                size -= 1
            overlap = min(overlap, size - 1)
        for window in windows(len(seg), size, overlap):
            yield (
                int(segment_idx),
                [p[0] for p in window.pairs],
                _residual_request(video_id, prompt, int(segment_idx), seg, window, context, read_image),
            )


def _residual_request(
    video_id: str,
    prompt: str,
    segment_idx: int,
    seg: pd.DataFrame,
    window: Window,
    context: dict[int, dict],
    read_image: ImageReader,
) -> ModelRequest:
    part = seg.iloc[window.start : window.stop]
    info = {
        "segment_idx": int(segment_idx),
        "first_frame_index": window.start,
        "frame_times_s": [round(float(t), 3) for t in part["t_s"]],
        "pairs": [list(p) for p in window.pairs],
    }
    if context:
        if int(segment_idx) not in context:
            raise ValueError(f"residuals: segment {int(segment_idx)} has no anchor")
        info["anchor"] = context[int(segment_idx)]
    images = [m.image_part(read_image(sha)) for sha in part["sha256"]]
    return ModelRequest(
        "residual",
        [
            m.system(prompt),
            m.user(
                f"Frames {window.start} to {window.stop - 1} of scene {int(segment_idx)}.",
                m.json_block(info),
                *images,
            ),
        ],
        SCHEMAS["residual"],
        video_id=video_id,
        asset="residuals",
    )


def caption_residuals(
    video_id: str,
    frames: pd.DataFrame,
    read_image: ImageReader,
    client: ModelClient,
    prompt: str,
    version: str,
    settings: ChainSettings,
    anchors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    plan: list[tuple[int, list[int]]] = []  # (segment, first frame of each pair) of every request sent

    def stream() -> Iterator[ModelRequest]:
        fits = client.fits if client.context_tokens is not None else None  # no window known: as configured
        planned = residual_plan(video_id, frames, read_image, prompt, settings, anchors, fits)
        for segment_idx, firsts, request in planned:
            plan.append((segment_idx, firsts))
            yield request

    results = client.complete_stream(stream())
    by_segment = {k: g.reset_index(drop=True) for k, g in _frame(frames).groupby("segment_idx")}
    rows = []
    for (segment_idx, firsts), result in zip(plan, results, strict=True):
        got = {tuple(item["frame_pair"]): item for item in result.data["residuals"]}
        seg = by_segment[segment_idx]
        for i in firsts:
            item = got.get((i, i + 1))
            if item is None:
                raise ModelCallError(
                    f"residuals: the model answered no residual for frame pair [{i}, {i + 1}] of "
                    f"segment {segment_idx} (it returned {sorted(got)})"
                )
            caption = item["delta_caption"].strip() or "No visible change."
            rows.append(
                {
                    "video_id": video_id,
                    "segment_idx": segment_idx,
                    "pair_idx": i,
                    "t_prev_s": float(seg.loc[i, "t_s"]),
                    "t_s": float(seg.loc[i + 1, "t_s"]),
                    "delta_caption": caption,
                    "change_type": item["change_type"],
                    "subject": item["subject"],
                    "zone_from": item["zone_from"],
                    "zone_to": item["zone_to"],
                    "direction": item["direction"],
                    "n_words": n_words(caption),
                    "model": client.backend.model,
                    "version": version,
                }
            )
    return pd.DataFrame(rows) if rows else empty_frame("residuals")


# ------------------------------------------------------------------------------------------ evidence


def build_evidence(
    video_id: str,
    anchors: pd.DataFrame,
    residuals: pd.DataFrame,
    flagged: dict[tuple[int, int], str] | None = None,
) -> pd.DataFrame:
    """The accepted and rejected events of a video; `flagged`: (segment_idx, pair_idx) -> the quality flags
    of a residual, which is never accepted (captioning/evidence.py rule 5)."""
    entities = {int(r.segment_idx): json.loads(r.entities_json) for r in anchors.itertuples()}
    flagged = flagged or {}
    rows = []
    for segment_idx in sorted(entities):
        seg = residuals[residuals["segment_idx"] == segment_idx]
        claims = [
            Residual(
                int(r.pair_idx),
                float(r.t_prev_s),
                float(r.t_s),
                r.delta_caption,
                r.change_type,
                r.subject,
                r.zone_from,
                r.zone_to,
                r.direction,
            )
            for r in seg.itertuples()
        ]
        mine = {pair: flags for (seg, pair), flags in flagged.items() if seg == segment_idx}
        for event in accept(segment_idx, claims, entities[segment_idx], mine):
            row = event.as_row()
            row.pop("first_pair")
            rows.append({"video_id": video_id, **row})
    if not rows:
        return empty_frame("evidence")
    frame = pd.DataFrame(rows)
    frame.insert(2, "event_idx", frame.groupby("segment_idx").cumcount())
    return frame


# ------------------------------------------------------------------------------------------ narratives


def scene_requests(
    video_id: str, segments: pd.DataFrame, anchors: pd.DataFrame, evidence: pd.DataFrame, prompt: str
) -> list[ModelRequest]:
    requests = []
    for seg in segments.sort_values("segment_idx").itertuples():
        anchor = anchors[anchors["segment_idx"] == seg.segment_idx].iloc[0]
        accepted = evidence[
            (evidence["segment_idx"] == seg.segment_idx) & evidence["accepted"] & (evidence["rule"] != "attribute_lock")
        ]
        data = {
            "segment": {
                "segment_idx": int(seg.segment_idx),
                "start_s": round(float(seg.start_s), 3),
                "end_s": round(float(seg.end_s), 3),
            },
            "anchor": {"caption": anchor["caption"], "entities": json.loads(anchor["entities_json"])},
            "evidence": [
                {
                    "t_s": round(float(e.t_start_s), 3),
                    "t_end_s": round(float(e.t_end_s), 3),
                    "event": e.event,
                    "change_type": e.change_type,
                    "subject": e.subject,
                    "direction": e.direction,
                    "zone_from": e.zone_from,
                    "zone_to": e.zone_to,
                    "support": int(e.support),
                }
                for e in accepted.itertuples()
            ],
        }
        requests.append(
            ModelRequest(
                "scene",
                [m.system(prompt), m.user("Write the scene narrative.", m.json_block(data))],
                SCHEMAS["scene"],
                video_id=video_id,
                asset="scene_narratives",
            )
        )
    return requests


def narrate_scenes(
    video_id: str,
    segments: pd.DataFrame,
    anchors: pd.DataFrame,
    evidence: pd.DataFrame,
    client: ModelClient,
    prompt: str,
    version: str,
) -> pd.DataFrame:
    requests = scene_requests(video_id, segments, anchors, evidence, prompt)
    results = client.complete_many(requests)
    rows = []
    for seg, result in zip(segments.sort_values("segment_idx").itertuples(), results, strict=True):
        narrative = result.data["narrative"].strip()
        n_ev = int(
            (
                (evidence["segment_idx"] == seg.segment_idx)
                & evidence["accepted"]
                & (evidence["rule"] != "attribute_lock")
            ).sum()
        )
        rows.append(
            {
                "video_id": video_id,
                "segment_idx": int(seg.segment_idx),
                "start_s": float(seg.start_s),
                "end_s": float(seg.end_s),
                "narrative": narrative,
                "n_words": n_words(narrative),
                "n_evidence": n_ev,
                "model": client.backend.model,
                "version": version,
            }
        )
    return pd.DataFrame(rows)


def narrate_video(video_id: str, scenes: pd.DataFrame, client: ModelClient, prompt: str, version: str) -> pd.DataFrame:
    """The video narrative alone (through chapters when the scenes do not fit one request: chapters.py)."""
    from codecvdc_assets.captioning.chapters import narrate_video_levels
    from codecvdc_assets.captioning.prompts import load_prompt

    video, _, _ = narrate_video_levels(
        video_id, scenes, client, {"video": prompt, "chapter": load_prompt("chapter")}, version
    )
    return video
