"""The video narrative through chapters (DESIGN section 16): scene narratives -> chapter narratives over
consecutive scenes -> ... -> the video narrative, every request within the text model's window.

Level 1 requests carry scene narratives (`scenes`, as the single-request video narrative always did);
higher levels carry chapters (`chapters`: span, scene range, `n_scenes`, narrative). Intermediate merges
use prompts/chapter.md (task `chapter`), the top one prompts/video.md (task `video`); both get
`target_words` (captioning/hierarchy.py `length_target`). Every chapter is a row of `chapter_narratives`
(level, index in the level, first and last segment, span, inputs, target, whether a model made it), so each
level stays queryable next to scenes and the video.
"""

from __future__ import annotations

import pandas as pd

from codecvdc_assets.captioning.hierarchy import DEFAULT_FAN_IN, Aggregator, Part, Tree
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest

CHAPTER_COLUMNS = [
    "video_id", "level", "chapter_idx", "first_segment_idx", "last_segment_idx", "start_s", "end_s",
    "n_inputs", "narrative", "n_words", "target_words", "called", "model", "version",
]  # fmt: skip


def scene_parts(scenes: pd.DataFrame) -> list[Part]:
    parts = []
    for s in scenes.sort_values("segment_idx").itertuples():
        item = {
            "segment_idx": int(s.segment_idx),
            "start_s": round(float(s.start_s), 3),
            "end_s": round(float(s.end_s), 3),
            "narrative": s.narrative,
        }
        parts.append(
            Part(float(s.start_s), float(s.end_s), int(s.segment_idx), int(s.segment_idx), item, 0, s.narrative)
        )
    return parts


def chapter_item(text: str, parts: list[Part], level: int) -> dict:
    return {
        "segments": [parts[0].first, parts[-1].last],
        "n_scenes": parts[-1].last - parts[0].first + 1,
        "start_s": round(parts[0].start_s, 3),
        "end_s": round(parts[-1].end_s, 3),
        "narrative": text,
    }


def narrative_request(
    video_id: str, prompts: dict[str, str], parts: list[Part], level: int, final: bool, target_words: int
) -> ModelRequest:
    key = "scenes" if all(p.level == 0 for p in parts) else "chapters"
    data = {"target_words": target_words, key: [p.item for p in parts]}
    task = "video" if final else "chapter"
    ask = "Write the video narrative." if final else "Write the chapter narrative."
    return ModelRequest(
        task,
        [m.system(prompts[task]), m.user(ask, m.json_block(data))],
        SCHEMAS[task],
        video_id=video_id,
        asset="video_narratives",
    )


def narrate_video_levels(
    video_id: str,
    scenes: pd.DataFrame,
    client: ModelClient,
    prompts: dict[str, str],
    version: str,
    max_fan_in: int = DEFAULT_FAN_IN,
) -> tuple[pd.DataFrame, pd.DataFrame, Tree]:
    """(video_narratives row, chapter_narratives rows, the tree) for one video; `prompts` has `video` and
    `chapter`. Raises hierarchy.AggregationError where one scene cannot fit a request alone."""
    aggregator = Aggregator(
        client,
        lambda parts, level, final, target: narrative_request(video_id, prompts, parts, level, final, target),
        chapter_item,
        "narrative",
        max_fan_in,
        "video narrative",
    )
    tree = aggregator.run(scene_parts(scenes))
    model = client.backend.model
    video = pd.DataFrame(
        [
            {
                "video_id": video_id,
                "narrative": tree.text,
                "n_words": len(tree.text.split()),
                "n_segments": len(scenes),
                "model": model,
                "version": version,
            }
        ]
    )
    rows = [
        {
            "video_id": video_id,
            "level": c.level,
            "chapter_idx": c.idx,
            "first_segment_idx": c.part.first,
            "last_segment_idx": c.part.last,
            "start_s": c.part.start_s,
            "end_s": c.part.end_s,
            "n_inputs": c.n_inputs,
            "narrative": c.part.text,
            "n_words": len(c.part.text.split()),
            "target_words": c.target_words,
            "called": c.called,
            "model": model,
            "version": version,
        }
        for c in tree.chapters
    ]
    return video, pd.DataFrame(rows, columns=CHAPTER_COLUMNS), tree
