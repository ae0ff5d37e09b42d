"""VidCapQA for any captioner: captions made elsewhere, answered with the same prompt, schema, cache
and re-ask as our own sources (answering.py).

A captions file is JSONL, one row per video: `{video_id, caption}` or `{video_id, source, caption}`.
Its source names the captioner (`NAME`, stored as `NAME:caption` unless it already has a level,
`NAME:LEVEL`). Its video ids meet the bank's (and our videos') by the rule of sources.match_questions:
the same id, or our `<slug>-<fingerprint>` id made from a file named after it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from codecvdc_assets.evaluation.answering import answer_questions
from codecvdc_assets.evaluation.sources import match_questions
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.storage.jsonl import jsonl_rows
from codecvdc_assets.video.ids import made_from

CAPTION_COLUMNS = ["video_id", "source", "caption"]


class CaptionsError(ValueError):
    """A captions file that cannot be read: the message names the file (and line) and the reason."""


def source_name(name: str) -> str:
    name = name.strip()
    return name if ":" in name else f"{name}:caption"


def load_captions(path: str | Path, source: str | None = None) -> pd.DataFrame:
    """The rows of a captions file; `source` (else each row's `source`, else the file's stem) names them."""
    path = Path(path)
    rows = []
    for n, row in jsonl_rows(path, CaptionsError):
        if "video_id" not in row or "caption" not in row:
            raise CaptionsError(f"{path}:{n}: a row needs video_id and caption")
        if not isinstance(row["caption"], str):
            raise CaptionsError(f"{path}:{n}: caption must be a string")
        name = source or row.get("source") or path.stem
        rows.append({"video_id": str(row["video_id"]), "source": source_name(str(name)), "caption": row["caption"]})
    frame = pd.DataFrame(rows, columns=CAPTION_COLUMNS)
    twice = frame[frame.duplicated(["video_id", "source"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise CaptionsError(f"{path}: video {first['video_id']!r} has two captions from {first['source']!r}")
    return frame


def captions_for(captions: pd.DataFrame, video_id: str) -> dict[str, str]:
    """{source: caption} of the captions file's rows about our video `video_id`."""
    hits = captions[captions["video_id"].map(lambda cid: made_from(video_id, cid))]
    return dict(zip(hits["source"], hits["caption"], strict=True))


def answer_bank(
    bank: pd.DataFrame, captions: pd.DataFrame, client: ModelClient, prompt: str, version: str
) -> pd.DataFrame:
    """Every bank question about a captioned video, answered from that caption alone."""
    tables = []
    for video_id, rows in captions.groupby("video_id", sort=True):
        questions = match_questions(bank, str(video_id))
        if len(questions):
            sources = dict(zip(rows["source"], rows["caption"], strict=True))
            tables.append(answer_questions(str(video_id), questions, sources, client, prompt, version))
    if not tables:
        from codecvdc_assets.schemas import empty_frame

        return empty_frame("vidcapqa_answers")
    return pd.concat(tables, ignore_index=True)
