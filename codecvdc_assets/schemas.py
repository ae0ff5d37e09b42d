"""pandera models, one per lake table (DESIGN.md section 9). Validated lazily before every write."""

from __future__ import annotations

import string

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from codecvdc_assets.video.segmentation import CONTENT_PRIMARY, IFRAME_PRIMARY

BOUNDARY_SOURCES = ["start", "content", "iframe+content", "max_duration"]
# VidCapQA's vocabulary (evaluation/bank.py uses it): CodecCap's 14 capability dimensions and difficulties.
DIMENSIONS = [
    "action recognition",
    "attribute recognition",
    "camera movement",
    "counting",
    "direction",
    "holistic understanding",
    "object tracking",
    "reasoning",
    "rotation",
    "speed",
    "state change",
    "temporal grounding",
    "temporal sequence",
    "trajectory",
]
# CodecCap Table 2 groups (dynamics-centric vs static/persistence-oriented capabilities).
DYNAMIC = [
    "action recognition",
    "camera movement",
    "direction",
    "object tracking",
    "rotation",
    "speed",
    "temporal grounding",
    "temporal sequence",
    "trajectory",
]
STATIC = ["attribute recognition", "counting", "holistic understanding", "reasoning", "state change"]
DIFFICULTIES = ["easy", "medium", "hard", "very hard"]
LETTERS = string.ascii_uppercase


class Table(pa.DataFrameModel):
    """Every lake table: exactly its columns (strict), values coerced to the declared types."""

    class Config:
        strict = True
        coerce = True


class VideosSchema(Table):
    video_id: Series[str] = pa.Field(str_matches=r"^[a-z0-9][a-z0-9_-]*-[0-9a-f]{10}$")
    path: Series[str]
    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    size_bytes: Series[int] = pa.Field(gt=0)
    container: Series[str]
    codec: Series[str]
    width: Series[int] = pa.Field(gt=0)
    height: Series[int] = pa.Field(gt=0)
    fps: Series[float] = pa.Field(gt=0)
    duration_s: Series[float] = pa.Field(gt=0)
    start_offset_s: Series[float]
    rotation: Series[int] = pa.Field(isin=[0, 90, 180, 270])  # display matrix, counter-clockwise degrees
    timestamps_synthesized: Series[bool]  # no container timestamps (raw stream): frame index / fps
    n_packets: Series[int] = pa.Field(gt=0)
    has_audio: Series[bool]
    audio_codec: Series[str] = pa.Field(nullable=True)
    n_iframes: Series[int] = pa.Field(ge=1)
    gop_mean_s: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    gop_cv: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0)
    keyframe_ratio: Series[float] = pa.Field(ge=0, le=1)
    seg_mode: Series[str] = pa.Field(isin=[IFRAME_PRIMARY, CONTENT_PRIMARY])
    mode_reason: Series[str]


class SegmentsSchema(Table):
    video_id: Series[str]
    segment_idx: Series[int] = pa.Field(ge=0)
    start_s: Series[float] = pa.Field(ge=0)
    end_s: Series[float]
    duration_s: Series[float] = pa.Field(gt=0)
    start_frame: Series[int] = pa.Field(ge=0)
    end_frame: Series[int] = pa.Field(gt=0)
    boundary_source: Series[str] = pa.Field(isin=BOUNDARY_SOURCES)
    iframe_s: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    seg_mode: Series[str] = pa.Field(isin=[IFRAME_PRIMARY, CONTENT_PRIMARY])
    gop_cv: Series[pd.Float64Dtype] = pa.Field(nullable=True)

    @pa.dataframe_check
    def contiguous(cls, df: pd.DataFrame) -> bool:
        """Segments tile the video: each starts where the previous one ended."""
        df = df.sort_values("segment_idx")
        ok_idx = (df["segment_idx"].to_numpy() == range(len(df))).all()
        ok_frames = (df["start_frame"].iloc[1:].to_numpy() == df["end_frame"].iloc[:-1].to_numpy()).all()
        return bool(ok_idx and ok_frames and (df["end_s"] > df["start_s"]).all())


class FramesSchema(Table):
    video_id: Series[str]
    segment_idx: Series[int] = pa.Field(ge=0)
    frame_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float] = pa.Field(ge=0)
    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    width: Series[int] = pa.Field(gt=0)
    height: Series[int] = pa.Field(gt=0)
    is_sample: Series[bool]
    is_anchor: Series[bool]
    uri: Series[str]

    @pa.dataframe_check
    def strictly_increasing(cls, df: pd.DataFrame) -> bool:
        return bool(df["t_s"].is_monotonic_increasing and df["t_s"].is_unique)


class FailuresSchema(Table):
    video_id: Series[str]
    asset: Series[str]
    error_type: Series[str]
    message: Series[str]
    run_id: Series[str] = pa.Field(nullable=True)
    failed_at: Series[pd.Timestamp]


class ModelCallsSchema(Table):
    video_id: Series[str] = pa.Field(nullable=True)
    asset: Series[str] = pa.Field(nullable=True)
    task: Series[str]
    backend: Series[str]
    model: Series[str]
    endpoint: Series[str]
    prompt_tokens: Series[int] = pa.Field(ge=0)
    completion_tokens: Series[int] = pa.Field(ge=0)
    latency_s: Series[float] = pa.Field(ge=0)
    status: Series[str] = pa.Field(isin=["ok", "truncated", "invalid", "error", "refused"])
    cache_hit: Series[bool]
    cache_key: Series[str]
    error: Series[str] = pa.Field(nullable=True)
    attempt: Series[int] = pa.Field(ge=1)
    http_attempts: Series[int] = pa.Field(ge=0)
    worker: Series[str] = pa.Field(nullable=True)  # host:pid of the process that made the call
    run_id: Series[str] = pa.Field(nullable=True)
    recorded_at: Series[pd.Timestamp]


CHANGE_TYPES = ["continuous", "discrete", "attribute", "camera", "none"]


class AnchorsSchema(Table):
    video_id: Series[str]
    segment_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float] = pa.Field(ge=0)
    frame_sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    entities_json: Series[str]
    model: Series[str]
    version: Series[str]


class ResidualsSchema(Table):
    video_id: Series[str]
    segment_idx: Series[int] = pa.Field(ge=0)
    pair_idx: Series[int] = pa.Field(ge=0)
    t_prev_s: Series[float] = pa.Field(ge=0)
    t_s: Series[float] = pa.Field(ge=0)
    delta_caption: Series[str] = pa.Field(str_length={"min_value": 1})
    change_type: Series[str] = pa.Field(isin=CHANGE_TYPES)
    subject: Series[str]
    zone_from: Series[str]
    zone_to: Series[str]
    direction: Series[str]
    n_words: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]

    @pa.dataframe_check
    def pairs_in_time_order(cls, df: pd.DataFrame) -> bool:
        return bool((df["t_s"] > df["t_prev_s"]).all())


class EvidenceSchema(Table):
    video_id: Series[str]
    segment_idx: Series[int] = pa.Field(ge=0)
    event_idx: Series[int] = pa.Field(ge=0)
    t_start_s: Series[float] = pa.Field(ge=0)
    t_end_s: Series[float] = pa.Field(ge=0)
    event: Series[str]
    change_type: Series[str] = pa.Field(isin=CHANGE_TYPES)
    subject: Series[str]
    direction: Series[str]
    zone_from: Series[str]
    zone_to: Series[str]
    support: Series[int] = pa.Field(ge=1)
    accepted: Series[bool]
    rule: Series[str] = pa.Field(
        isin=["continuous", "contradiction", "discrete", "attribute", "attribute_lock", "quality"]
    )
    reason: Series[str]


class SceneNarrativesSchema(Table):
    video_id: Series[str]
    segment_idx: Series[int] = pa.Field(ge=0)
    start_s: Series[float] = pa.Field(ge=0)
    end_s: Series[float]
    narrative: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    n_evidence: Series[int] = pa.Field(ge=0)
    model: Series[str]
    version: Series[str]


class VideoNarrativesSchema(Table):
    video_id: Series[str]
    narrative: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    n_segments: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]


class ChapterNarrativesSchema(Table):
    """Intermediate levels between scene narratives and the video narrative (captioning/chapters.py):
    level 1 merges consecutive scenes, level 2 consecutive level-1 chapters, ...; `called` is False for a
    single input carried up unchanged."""

    video_id: Series[str]
    level: Series[int] = pa.Field(ge=1)
    chapter_idx: Series[int] = pa.Field(ge=0)
    first_segment_idx: Series[int] = pa.Field(ge=0)
    last_segment_idx: Series[int] = pa.Field(ge=0)
    start_s: Series[float] = pa.Field(ge=0)
    end_s: Series[float]
    n_inputs: Series[int] = pa.Field(ge=1)
    narrative: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    target_words: Series[int] = pa.Field(ge=1)
    called: Series[bool]
    model: Series[str]
    version: Series[str]


class LongcapSectionsSchema(Table):
    """Intermediate levels of the LongCaption-Agent merge (captioning/longcaption.py): sections of
    consecutive clips (level 1), sections of sections (level 2), ..."""

    video_id: Series[str]
    level: Series[int] = pa.Field(ge=1)
    section_idx: Series[int] = pa.Field(ge=0)
    first_clip_idx: Series[int] = pa.Field(ge=0)
    last_clip_idx: Series[int] = pa.Field(ge=0)
    start_s: Series[float] = pa.Field(ge=0)
    end_s: Series[float]
    n_inputs: Series[int] = pa.Field(ge=1)
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    target_words: Series[int] = pa.Field(ge=1)
    called: Series[bool]
    model: Series[str]
    version: Series[str]


class DirectCaptionsSchema(Table):
    video_id: Series[str]
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    n_frames: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]


class PerSecondCaptionsSchema(Table):
    video_id: Series[str]
    second_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float] = pa.Field(ge=0)
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]


class LongcapFramesSchema(Table):
    video_id: Series[str]
    frame_idx: Series[int] = pa.Field(ge=0)
    t_s: Series[float] = pa.Field(ge=0)
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]


class LongcapClipsSchema(Table):
    video_id: Series[str]
    clip_idx: Series[int] = pa.Field(ge=0)
    start_s: Series[float] = pa.Field(ge=0)
    end_s: Series[float] = pa.Field(ge=0)
    n_frames: Series[int] = pa.Field(ge=1)
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]


class LongcapVideoSchema(Table):
    video_id: Series[str]
    n_clips: Series[int] = pa.Field(ge=0)
    n_frames: Series[int] = pa.Field(ge=0)
    caption: Series[str] = pa.Field(str_length={"min_value": 1})
    n_words: Series[int] = pa.Field(ge=1)
    model: Series[str]
    version: Series[str]


class VidcapqaAnswersSchema(Table):
    question_id: Series[str]
    video_id: Series[str]
    strategy: Series[str]
    level: Series[str]
    source: Series[str]
    answer: Series[str] = pa.Field(str_matches=r"^([A-Z]|unknown)$")
    correct: Series[bool]
    no_evidence: Series[bool]
    dimension: Series[str] = pa.Field(nullable=True)
    difficulty: Series[str] = pa.Field(nullable=True)
    rationale: Series[str]
    observation: Series[str]
    caption_words: Series[int] = pa.Field(ge=0)
    caption_fitted: Series[bool]  # the caption was fitted into the answerer's window (evaluation/caption_fit.py)
    model: Series[str]
    version: Series[str]


class VidcapqaScoresSchema(Table):
    source: Series[str]
    strategy: Series[str]
    level: Series[str]
    group: Series[str] = pa.Field(isin=["overall", "dimension", "difficulty"])
    dimension: Series[str]
    n: Series[int] = pa.Field(ge=0)
    accuracy: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    ci_low: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    ci_high: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    no_evidence_rate: Series[float] = pa.Field(ge=0, le=1, nullable=True)
    n_fitted: Series[int] = pa.Field(ge=0)  # answers of the row whose caption had to be fitted
    tokens_per_minute: Series[float] = pa.Field(ge=0, nullable=True)


class VidcapqaPairsSchema(Table):
    """Paired comparisons of two sources on the same questions (evaluation/paired.py)."""

    source_a: Series[str]
    source_b: Series[str]
    group: Series[str] = pa.Field(isin=["overall", "dimension", "difficulty"])
    dimension: Series[str]
    n: Series[int] = pa.Field(ge=1)
    accuracy_a: Series[float] = pa.Field(ge=0, le=1)
    accuracy_b: Series[float] = pa.Field(ge=0, le=1)
    difference: Series[float] = pa.Field(ge=-1, le=1)
    ci_low: Series[float] = pa.Field(ge=-1, le=1)
    ci_high: Series[float] = pa.Field(ge=-1, le=1)
    a_only: Series[int] = pa.Field(ge=0)
    b_only: Series[int] = pa.Field(ge=0)
    mcnemar_p: Series[float] = pa.Field(ge=0, le=1)


class ConstructionDecisionsSchema(Table):
    question_id: Series[str]
    step: Series[str] = pa.Field(isin=["relabel", "text_only", "phase_a", "phase_b", "sampling"])
    decision: Series[str]
    reason: Series[str]


class CaptionMetricsSchema(Table):
    """Dense-captioning and LongCaption-Bench figures per source (evaluation/lake_metrics.py)."""

    source: Series[str]
    protocol: Series[str] = pa.Field(isin=["activitynet", "soccernet", "longcaption"])
    metric: Series[str]
    threshold: Series[float] = pa.Field(nullable=True)  # tIoU; the window W (s) for soccernet; null: mean
    value: Series[float] = pa.Field(nullable=True)
    ci_low: Series[float] = pa.Field(nullable=True)
    ci_high: Series[float] = pa.Field(nullable=True)
    n: Series[int] = pa.Field(ge=0)
    subset: Series[str]  # "overall", or a LongCaption-Bench duration bucket


class BankSchema(Table):
    question_id: Series[str] = pa.Field(unique=True)
    video_id: Series[str]
    question: Series[str] = pa.Field(str_length={"min_value": 1})
    options: Series[object]
    answer: Series[str] = pa.Field(str_matches=r"^[A-Z]$")
    dimension: Series[str] = pa.Field(isin=DIMENSIONS, nullable=True)
    difficulty: Series[str] = pa.Field(isin=DIFFICULTIES, nullable=True)
    source: Series[str]

    @pa.dataframe_check
    def answer_is_an_option(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(
            [is_options(o) and LETTERS.index(a) < len(o) for o, a in zip(df["options"], df["answer"], strict=True)],
            index=df.index,
        )


def is_options(value: object) -> bool:
    """A list of 2 to 26 option texts (a list, tuple or, read back from Parquet, a NumPy array)."""
    return not isinstance(value, str) and hasattr(value, "__len__") and 2 <= len(value) <= 26


# The caption quality flags (codecvdc_assets/quality: one gate each), in report order.
QUALITY_FLAGS = [
    "empty",
    "placeholder",
    "repetition",
    "truncated",
    "refusal",
    "prompt_echo",
    "language",
    "duplicate",
    "collapse",
]


class CaptionQualitySchema(pa.DataFrameModel):
    """One row per flag of a caption (quality/table.py): the caption is `row` of the asset's table."""

    video_id: Series[str]
    asset: Series[str]
    row: Series[str]
    flag: Series[str] = pa.Field(isin=QUALITY_FLAGS)
    value: Series[float]
    detail: Series[str]
    attempt: Series[int] = pa.Field(ge=1)  # the asks behind the kept caption: 1 + quality re-asks

    class Config:
        strict = True
        coerce = True


TABLE_SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "videos": VideosSchema,
    "segments": SegmentsSchema,
    "frames": FramesSchema,
    "failures": FailuresSchema,
    "model_calls": ModelCallsSchema,
    "anchors": AnchorsSchema,
    "residuals": ResidualsSchema,
    "evidence": EvidenceSchema,
    "scene_narratives": SceneNarrativesSchema,
    "video_narratives": VideoNarrativesSchema,
    "chapter_narratives": ChapterNarrativesSchema,
    "direct_captions": DirectCaptionsSchema,
    "per_second_captions": PerSecondCaptionsSchema,
    "longcap_frames": LongcapFramesSchema,
    "longcap_clips": LongcapClipsSchema,
    "longcap_video": LongcapVideoSchema,
    "longcap_sections": LongcapSectionsSchema,
    "vidcapqa_bank": BankSchema,
    "vidcapqa_answers": VidcapqaAnswersSchema,
    "vidcapqa_scores": VidcapqaScoresSchema,
    "vidcapqa_pairs": VidcapqaPairsSchema,
    "vidcapqa_pool": BankSchema,
    "vidcapqa_built_bank": BankSchema,
    "vidcapqa_decisions": ConstructionDecisionsSchema,
    "caption_metrics": CaptionMetricsSchema,
    "caption_quality": CaptionQualitySchema,
}


def validate(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Validate lazily (all problems reported at once) and return the coerced frame."""
    return TABLE_SCHEMAS[table].validate(df, lazy=True)


def empty_frame(table: str) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes (for schema-only Parquet files)."""
    schema = TABLE_SCHEMAS[table].to_schema()
    return pd.DataFrame({name: pd.Series(dtype=col.dtype.type) for name, col in schema.columns.items()})
