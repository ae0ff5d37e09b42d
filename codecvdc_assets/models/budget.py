"""Context budgets: does a request fit the served model's window before it is sent?

A model in a profile declares `context_tokens` (the served window; vLLM serves 32,768 for Qwen2.5-7B and
Qwen2.5-VL-7B unless configured otherwise) beside `max_tokens` (the answer's room). A request fits when

    estimated prompt tokens * (1 + margin) + max_tokens <= context_tokens

The estimate counts text as models/tokens.py does (words and punctuation marks, close to a BPE count for
English and above it for JSON, whose brackets and quotes each count) plus a few tokens of chat template
per message, and images as Qwen2-VL-class models count them (one token per 28x28 patch). The margin
(20 %) covers the difference between this estimate and a real tokenizer (BPE counts English prose at
~1.3 tokens a word, this estimate at ~1.15), so a planned request never
meets the server's own limit. Everything here is plain arithmetic on messages: no Dagster, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codecvdc_assets.models import messages as m
from codecvdc_assets.models.tokens import count_image, count_text

DEFAULT_CONTEXT_TOKENS = 32768
TEMPLATE_TOKENS = 8  # per message: role markers and separators of a chat template (Qwen's <|im_start|>...)
MARGIN = 0.2


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The prompt's size in tokens as the served model would count it (an estimate, see the module doc)."""
    text = sum(count_text(t) for t in m.texts(messages))
    images = sum(count_image(i) for i in m.images(messages))
    return text + images + TEMPLATE_TOKENS * len(messages)


@dataclass(frozen=True)
class Budget:
    """One model's window: `context_tokens` in all, `max_tokens` of it kept for the answer."""

    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    max_tokens: int = 1024
    margin: float = MARGIN

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, not {self.max_tokens}")
        if self.context_tokens <= self.max_tokens:
            raise ValueError(
                f"context_tokens ({self.context_tokens}) must be greater than max_tokens ({self.max_tokens}): "
                "the prompt needs room too"
            )

    @property
    def prompt_limit(self) -> int:
        """The largest estimated prompt that fits (the margin taken off)."""
        return int((self.context_tokens - self.max_tokens) / (1 + self.margin))

    def fits(self, prompt_tokens: int) -> bool:
        return prompt_tokens <= self.prompt_limit

    def words_fit(self, share: float = 0.5) -> int:
        """Words an answer may ask for so that it (as JSON) stays well under max_tokens (~1.3 tokens a word
        for English prose, ~1.5 with times and numbers, plus the JSON frame): the cap of every length target
        in a prompt."""
        return max(20, int(self.max_tokens * share))


class OverBudget(ValueError):
    """A request that cannot fit its model's window; the message is one line naming video, asset and sizes."""

    def __init__(self, message: str, prompt_tokens: int = 0, budget: Budget | None = None) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.budget = budget


def over_budget_message(video_id: str | None, asset: str | None, task: str, prompt_tokens: int, budget: Budget) -> str:
    where = "/".join(p for p in (video_id, asset) if p) or task
    return (
        f"{where}: {task} request not sent: ~{prompt_tokens} prompt tokens (+{budget.margin:.0%} margin) + "
        f"max_tokens {budget.max_tokens} exceed context_tokens {budget.context_tokens} "
        f"(prompt limit {budget.prompt_limit})"
    )
