"""The embedded backend: answers the model tasks offline, behind the same interface as a VLM/LLM.

The task is the JSON schema's name (the same on the wire, so the loopback server dispatches alike).
Tokens are counted (models/tokens.py) so accounting works as with a real endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from codecvdc_assets.models import messages as msg
from codecvdc_assets.models.embedded import judge, text, vision
from codecvdc_assets.models.tokens import count_image, count_text
from codecvdc_assets.models.types import RawAnswer, Sampling

VISION_MODEL = "embedded-cv-v1"
# The embedded models' names are their versions: bump them when their behaviour changes, so asset
# versions (and the call cache) see a new model.
TEXT_MODEL = "embedded-rules-v3"
# Test and bench knob: seconds added to every embedded call, to widen the window in which a run is
# in the middle of a model step (tests/test_crash_resume.py kills runs there). Unset or 0 in normal use.
DELAY_ENV = "CODECVDC_EMBEDDED_DELAY_S"
TASKS = (
    "anchor",
    "residual",
    "scene",
    "video",
    "chapter",
    "qa_answer",
    "direct",
    "per_second",
    "relabel",
    "qa_visual",
    "verify",
    "lc_quality",
    "lc_relevance",
    "longcap_frame",
    "longcap_clip",
    "longcap_video",
    "longcap_section",
)


class EmbeddedError(ValueError):
    pass


def respond(messages: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """The answer object for `task` (raises EmbeddedError for requests it cannot read)."""
    if task == "anchor":
        frames = msg.images(messages)
        if not frames:
            raise EmbeddedError("the anchor task needs one image")
        return vision.describe_frame(vision.decode(frames[0]))
    if task == "residual":
        frames = msg.images(messages)
        if len(frames) < 2:
            raise EmbeddedError("the residual task needs at least two images")
        first = _first_index(messages)
        entities = _anchor_entities(messages)
        return {"residuals": vision.describe_window([vision.decode(f) for f in frames], first, entities)}
    if task == "direct":
        frames = [vision.decode(f) for f in msg.images(messages)]
        if not frames:
            raise EmbeddedError("the direct task needs images")
        return {"caption": vision.describe_video(frames)}
    if task == "per_second":
        frames = [vision.decode(f) for f in msg.images(messages)]
        if not frames:
            raise EmbeddedError("the per_second task needs images")
        return {"caption": vision.describe_second(frames)}
    if task == "longcap_frame":
        frames = msg.images(messages)
        if not frames:
            raise EmbeddedError("the longcap_frame task needs one image")
        return {"caption": vision.describe_frame(vision.decode(frames[0]))["caption"]}
    if task == "longcap_clip":
        frames = [vision.decode(f) for f in msg.images(messages)]
        if not frames:
            raise EmbeddedError("the longcap_clip task needs images")
        return {"caption": vision.describe_clip(frames)}
    if task in ("qa_visual", "verify"):
        frames = [vision.decode(f) for f in msg.images(messages)]
        data = _json_input(messages)
        # The floor's way of looking: describe the frames, then answer from that description.
        caption = vision.describe_video(frames) if frames else ""
        answer = text.answer_question({**data, "caption": caption})
        if task == "qa_visual":
            return answer
        agrees = answer["answer"] == data.get("keyed_answer")
        return {"rationale": answer["rationale"], "verdict": "yes" if agrees else "no"}
    data = _json_input(messages)
    if task == "relabel":
        return {"dimension": text.guess_dimension(data)}
    if task == "scene":
        return {"narrative": text.scene_narrative(data)}
    if task == "video":
        return {"narrative": text.video_narrative(data)}
    if task == "chapter":  # an intermediate level of the video narrative (captioning/hierarchy.py)
        return {"narrative": text.video_narrative({**data, "part": "chapter"})}
    if task == "qa_answer":
        return text.answer_question(data)
    if task == "lc_quality":
        return judge.quality(data)
    if task == "lc_relevance":
        return judge.relevance(data)
    if task == "longcap_video":
        return {"caption": text.long_caption(data)}
    if task == "longcap_section":
        return {"caption": text.long_caption({**data, "part": "section"})}
    raise EmbeddedError(f"the embedded backend has no task {task!r} (known: {', '.join(TASKS)})")


def answer(messages: list[dict[str, Any]], task: str) -> RawAnswer:
    content = json.dumps(respond(messages, task), ensure_ascii=False)
    prompt = sum(count_text(t) for t in msg.texts(messages)) + sum(count_image(i) for i in msg.images(messages))
    return RawAnswer(content, prompt, count_text(content), "stop", "embedded")


def plain_reply(messages: list[dict[str, Any]]) -> RawAnswer:
    """A plain chat request (no response_format, as any OpenAI client sends by default), answered in
    plain text: the description of one image, the changes between several, or for text alone the text
    task its ```json block asks for (a question with options, scene evidence, scenes); free text gets a
    reply saying what the rule-based text model can answer."""
    content = _plain_text(messages)
    prompt = sum(count_text(t) for t in msg.texts(messages)) + sum(count_image(i) for i in msg.images(messages))
    return RawAnswer(content, prompt, count_text(content), "stop", "embedded")


def _plain_text(messages: list[dict[str, Any]]) -> str:
    frames = msg.images(messages)
    if len(frames) == 1:
        return vision.describe_frame(vision.decode(frames[0]))["caption"]
    if frames:
        pairs = vision.describe_window([vision.decode(f) for f in frames])
        return "\n".join(f"Frames {a + 1}-{b + 1}: {r['delta_caption']}" for r in pairs for a, b in [r["frame_pair"]])
    try:
        data = _json_input(messages)
    except EmbeddedError:
        data = {}
    if data.get("question") and data.get("options"):
        found = text.answer_question(data)
        return f"Answer: {found['answer']}. {found['rationale']}"
    if "anchor" in data or "evidence" in data:
        return text.scene_narrative(data)
    if "scenes" in data or "chapters" in data:
        return text.video_narrative(data)
    return (
        f"{TEXT_MODEL} is a rule-based text model: it answers a multiple-choice question about a caption "
        '(a ```json block with "caption", "question" and "options") and writes narratives from scene evidence '
        '("anchor" and "evidence") or from scenes ("scenes"). Send images to describe them.'
    )


class EmbeddedBackend:
    """In-process embedded models (vision or text), run in worker threads."""

    name = "embedded"

    def __init__(self, model: str = VISION_MODEL) -> None:
        self.model = model

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def chat(
        self, messages: list[dict[str, Any]], task: str, schema: dict[str, Any], sampling: Sampling
    ) -> RawAnswer:
        delay = float(os.environ.get(DELAY_ENV) or 0)
        if delay > 0:
            await asyncio.sleep(delay)
        raw = await asyncio.to_thread(answer, messages, task)
        if raw.completion_tokens > sampling.max_tokens:  # behave like a real endpoint at max_tokens
            return RawAnswer(
                raw.text[: len(raw.text) // 2], raw.prompt_tokens, sampling.max_tokens, "length", "embedded"
            )
        return raw


def _json_input(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for body in reversed(msg.texts(messages, role="user")):
        blocks = msg.json_blocks(body)
        if blocks and isinstance(blocks[-1], dict):
            return blocks[-1]
    raise EmbeddedError("the text tasks need their input as a ```json block in the user message")


def _anchor_entities(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The anchor's entities a contextual residual request carries (none without context)."""
    for body in msg.texts(messages, role="user"):
        for block in msg.json_blocks(body):
            if isinstance(block, dict) and isinstance(block.get("anchor"), dict):
                return [e for e in block["anchor"].get("entities") or [] if isinstance(e, dict)]
    return []


def _first_index(messages: list[dict[str, Any]]) -> int:
    for body in msg.texts(messages, role="user"):
        for block in msg.json_blocks(body):
            if isinstance(block, dict) and isinstance(block.get("first_frame_index"), int):
                return block["first_frame_index"]
    return 0
