"""Degenerate answers, as real captioning models write them when they go wrong (issue #22), for the
loopback server's fault plan: valid JSON of the right schema whose caption text is a loop, a refusal, the
prompt echoed, another language, one sentence for every frame, or one caption for every video.

Only the caption fields change (CAPTION_FIELDS); other tasks (QA, judges) answer normally.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codecvdc_assets.models.messages import texts
from codecvdc_assets.models.task_schemas import CAPTION_FIELDS

DEGENERATE = ("loop", "refusal", "echo", "foreign", "same_sentence", "one_caption")
REFUSAL = "I'm sorry, but I can't help with describing the content of this video."
# Another language with spaces between words (the word-count checks still see a caption): Cyrillic.
FOREIGN = "В кадре человек медленно идёт по комнате, затем останавливается у окна и долго смотрит на улицу."
SAME_SENTENCE = "A person stands still in the middle of a small, plainly furnished room."
ONE_CAPTION = (
    "A person walks through a brightly lit room, picks up a small object from a wooden table, looks at it "
    "for a moment and then leaves through the open door on the right side of the frame."
)


def _loop(caption: str) -> str:
    phrase = " ".join(caption.split()[:2]).rstrip(".,;:").lower() or "a butterfly"
    return ", ".join([phrase] * 16) + "."


def _echo(messages: list[dict[str, Any]], words: int = 15) -> str:
    """The first sentences (at least `words` words) of the instruction the model was given: the system
    prompt, else the first user text."""
    prompts = [t for t in [*texts(messages, "system"), *texts(messages, "user")] if t.strip()]
    said: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", prompts[0] if prompts else "Describe the frames."):
        said.append(" ".join(sentence.split()))
        if sum(len(s.split()) for s in said) >= words:
            break
    return " ".join(said)


def degenerate_text(kind: str, caption: str, messages: list[dict[str, Any]]) -> str:
    if kind == "loop":
        return _loop(caption)
    if kind == "refusal":
        return REFUSAL
    if kind == "echo":
        return _echo(messages)
    if kind == "foreign":
        return FOREIGN
    if kind == "same_sentence":
        return SAME_SENTENCE
    if kind == "one_caption":
        return ONE_CAPTION
    raise ValueError(f"unknown degenerate answer {kind!r}; known: {', '.join(DEGENERATE)}")


def degenerate_answer(kind: str, content: str, task: str, messages: list[dict[str, Any]]) -> str:
    """`content` (a JSON answer for `task`) with its caption text replaced; unchanged for other tasks."""
    where = CAPTION_FIELDS.get(task)
    if where is None:
        return content
    data = json.loads(content)
    field, item_field = where
    if item_field is None:
        data[field] = degenerate_text(kind, str(data.get(field) or ""), messages)
    else:
        for item in data.get(field) or []:
            item[item_field] = degenerate_text(kind, str(item.get(item_field) or ""), messages)
    return json.dumps(data, ensure_ascii=False)
