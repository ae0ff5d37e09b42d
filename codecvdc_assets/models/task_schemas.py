"""JSON schemas of the model tasks; the schema name is the task name on the wire.

Strict-mode compatible (every property required, no additional properties), as vLLM's guided
decoding and hosted structured outputs accept.
"""

from __future__ import annotations

from typing import Any

from codecvdc_assets.models.vocabulary import CHANGE_TYPES, DIRECTIONS, ZONE_NAMES


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


_STR = {"type": "string"}
_ZONE = {"type": "string", "enum": [*ZONE_NAMES, "none"]}

ANCHOR = _obj(
    caption={"type": "string", "minLength": 1},
    entities={
        "type": "array",
        "items": _obj(
            label=_STR,
            zone=_ZONE,
            position=_STR,
            x={"type": "number"},
            y={"type": "number"},
            area={"type": "number"},
            attributes={"type": "array", "items": _STR},
        ),
    },
)

RESIDUAL_ITEM = _obj(
    frame_pair={"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    delta_caption={"type": "string", "minLength": 1},
    change_type={"type": "string", "enum": CHANGE_TYPES},
    subject=_STR,
    zone_from=_ZONE,
    zone_to=_ZONE,
    direction={"type": "string", "enum": DIRECTIONS},
)
RESIDUAL = _obj(residuals={"type": "array", "items": RESIDUAL_ITEM})

NARRATIVE = _obj(narrative={"type": "string", "minLength": 1})

QA_ANSWER = _obj(rationale=_STR, observation=_STR, answer={"type": "string", "pattern": "^([A-Z]|unknown)$"})
# Caption-then-QA takes the answer as the model writes it ("B", "(B)", "B. text", the option text, "none")
# and reads it in code (evaluation/choices.py): an unreadable answer is `unknown`, not a re-ask.
QA_ANSWER_TEXT = _obj(rationale=_STR, observation=_STR, answer=_STR)

CAPTION = _obj(caption={"type": "string", "minLength": 1})
RELABEL = _obj(dimension={"type": "string"})
VERIFY = _obj(rationale=_STR, verdict={"type": "string", "enum": ["yes", "no"]})

# LongCaption-Bench judges (evaluation/longcaption_bench.py): six quality dimensions, and relevance to a reference.
_SCORE = {"type": "integer", "minimum": 1, "maximum": 5}
LC_DIMENSIONS = ["relevance", "accuracy", "coherence", "clarity", "breadth_and_depth", "reading_experience"]
LC_QUALITY = _obj(analysis=_STR, **{d: _SCORE for d in LC_DIMENSIONS})
LC_RELEVANCE = _obj(rationale=_STR, score=_SCORE)

SCHEMAS: dict[str, dict[str, Any]] = {
    "direct": CAPTION,
    "relabel": RELABEL,
    "qa_visual": QA_ANSWER,
    "verify": VERIFY,
    "per_second": CAPTION,
    "anchor": ANCHOR,
    "residual": RESIDUAL,
    "scene": NARRATIVE,
    "video": NARRATIVE,
    "chapter": NARRATIVE,  # an intermediate level between scenes and the video (captioning/hierarchy.py)
    "qa_answer": QA_ANSWER_TEXT,
    "lc_quality": LC_QUALITY,
    "lc_relevance": LC_RELEVANCE,
    # LongCaption-Agent (captioning/longcaption_agent.py)
    "longcap_frame": CAPTION,
    "longcap_clip": CAPTION,
    "longcap_video": CAPTION,
    "longcap_section": CAPTION,
}

# Where each captioning task's answer holds its caption text: a top-level field, or a field of every item
# of a list (the quality gates check these; the loopback server's degenerate answers replace them).
CAPTION_FIELDS: dict[str, tuple[str, str | None]] = {
    "anchor": ("caption", None),
    "direct": ("caption", None),
    "per_second": ("caption", None),
    "longcap_frame": ("caption", None),
    "longcap_clip": ("caption", None),
    "longcap_video": ("caption", None),
    "scene": ("narrative", None),
    "video": ("narrative", None),
    "residual": ("residuals", "delta_caption"),
}


def caption_texts(task: str, data: dict[str, Any]) -> list[str]:
    """The caption texts of an answer to `task` (none for tasks that write no caption)."""
    where = CAPTION_FIELDS.get(task)
    if where is None:
        return []
    field, item_field = where
    if item_field is None:
        return [str(data.get(field) or "")]
    return [str(item.get(item_field) or "") for item in data.get(field) or []]
