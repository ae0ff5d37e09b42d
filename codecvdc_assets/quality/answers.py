"""The gates as the model client's answer check: a flagged answer is re-asked (models/client.py)."""

from __future__ import annotations

from typing import Any

from codecvdc_assets.models.messages import texts
from codecvdc_assets.models.task_schemas import caption_texts
from codecvdc_assets.models.types import ModelRequest, Sampling
from codecvdc_assets.quality.duplicates import Caption, collapse_flags
from codecvdc_assets.quality.gates import caption_flags
from codecvdc_assets.quality.settings import FLAGS, QualitySettings


def instruction(request: ModelRequest) -> str:
    """The prompt text a caption must not echo: the system prompt (the task's instruction), else the user
    texts; never the data blocks (a narrative may quote its evidence)."""
    system = texts(request.messages, "system")
    return "\n".join(system) if system else "\n".join(texts(request.messages, "user"))


def answer_flags(request: ModelRequest, data: dict[str, Any], settings: QualitySettings) -> list[str]:
    """The flags of one answer's captions (a list answer, e.g. a window's residuals, is also checked for
    collapse within it), in FLAGS order; empty for tasks that write no caption."""
    captions = caption_texts(request.task, data)
    if not captions:
        return []
    prompt = instruction(request)
    found = {f.flag for text in captions for f in caption_flags(text, settings, prompt)}
    if len(captions) > 1:
        found |= {
            f.flag for f in collapse_flags([Caption(i, "", t) for i, t in enumerate(captions)], settings).values()
        }
    return [f for f in FLAGS if f in found]


def answer_check(settings: QualitySettings):
    """ModelClient's answer_check for these settings."""

    def check(request: ModelRequest, data: dict[str, Any]) -> list[str]:
        return answer_flags(request, data, settings)

    return check


def reask_sampling(settings: QualitySettings, base: Sampling) -> list[Sampling]:
    """The sampling of each re-ask: reask_temperature and a new seed per ask (another cache key)."""
    seed = base.seed or 0
    return [
        Sampling(settings.reask_temperature, base.max_tokens, base.top_p, seed + k)
        for k in range(1, settings.reask_attempts + 1)
    ]
