"""Build a ModelClient from plain settings (used by the Dagster resources and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from codecvdc_assets.models.budget import DEFAULT_CONTEXT_TOKENS, Budget
from codecvdc_assets.models.cache import CallCache
from codecvdc_assets.models.client import AnswerCheck, ModelClient
from codecvdc_assets.models.embedded.backend import EmbeddedBackend
from codecvdc_assets.models.types import Sampling

BACKENDS = ("embedded", "openai")


@dataclass(frozen=True)
class ModelSettings:
    backend: str
    model: str
    base_urls: list[str] = field(default_factory=list)
    api_key: str | None = None
    concurrency: int = 8
    per_endpoint_concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 4
    sampling: Sampling = Sampling()
    context_tokens: int = DEFAULT_CONTEXT_TOKENS  # the served model's window (models/budget.py)

    def __post_init__(self) -> None:
        Budget(self.context_tokens, self.sampling.max_tokens)  # raises when max_tokens leaves no room
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown model backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        if self.backend == "openai" and not self.base_urls:
            raise ValueError(f"model {self.model!r}: the openai backend needs base_urls")

    def version_fields(self) -> dict:
        """What changes answers (and so asset versions): never the key, URLs or concurrency."""
        return {"backend": self.backend, "model": self.model, **self.sampling.as_dict()}


def build_client(
    settings: ModelSettings,
    cache_dir: str | None,
    answer_check: AnswerCheck | None = None,
    reask_sampling: list[Sampling] | None = None,
) -> ModelClient:
    """A client for `settings`; with `answer_check` flagged answers are re-asked with `reask_sampling`."""
    if settings.backend == "embedded":
        backend = EmbeddedBackend(settings.model)
    else:
        from codecvdc_assets.models.openai_backend import (
            OpenAIBackend,  # the openai package costs ~1 s of imports; embedded runs skip it
        )

        backend = OpenAIBackend(
            settings.model,
            settings.base_urls,
            settings.api_key,
            settings.per_endpoint_concurrency,
            settings.timeout_s,
            settings.max_retries,
        )
    cache = CallCache(cache_dir) if cache_dir else None
    concurrency = settings.concurrency * (len(settings.base_urls) or 1)
    return ModelClient(
        backend, settings.sampling, cache, concurrency, answer_check, reask_sampling or (), settings.context_tokens
    )
