"""Requests, results and call records of the model layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codecvdc_assets.storage.provenance import worker_identity


@dataclass(frozen=True)
class Sampling:
    """Sampling settings; part of every cache key and of the asset versions that use the model."""

    temperature: float = 0.0
    max_tokens: int = 1024
    top_p: float = 1.0
    seed: int | None = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class ModelRequest:
    """One call: `task` names the JSON schema (and tells the embedded backend what to do)."""

    task: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any]
    video_id: str | None = None
    asset: str | None = None


@dataclass(frozen=True)
class RawAnswer:
    """What a backend returned for one HTTP (or in-process) call."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    endpoint: str = ""
    http_attempts: int = 1  # HTTP requests the transport made for this answer (retries included)


@dataclass
class ModelResult:
    request: ModelRequest
    data: dict[str, Any] | None
    status: str
    cache_hit: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    flags: tuple[str, ...] = ()  # quality flags of the kept answer (ModelClient answer_check)
    asks: int = 1  # asks behind the kept answer: 1 + quality re-asks

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.data is not None


@dataclass(frozen=True)
class CallRecord:
    """One row of the `model_calls` table: an attempt against a backend, or a cache hit."""

    video_id: str | None
    asset: str | None
    task: str
    backend: str
    model: str
    endpoint: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    status: str
    cache_hit: bool
    cache_key: str
    error: str | None = None
    attempt: int = 1  # 1 for the first ask, 2 for the re-ask
    http_attempts: int = 1  # transport requests behind this row (the openai client's retries); 0 for a cache hit
    worker: str = field(default_factory=worker_identity)  # host:pid of the process that made the call


class TransportError(Exception):
    """A backend call that failed after the transport's own retries; the message names the fault and the
    number of attempts (e.g. "HTTP 503 (service unavailable) after 3 attempts")."""

    def __init__(self, message: str, attempts: int = 1, endpoint: str = "") -> None:
        super().__init__(message)
        self.attempts = attempts
        self.endpoint = endpoint


class ModelCallError(Exception):
    """A call that failed after retries and one re-ask; the message says which task and why."""

    def __init__(self, message: str, results: list[ModelResult] | None = None) -> None:
        super().__init__(message)
        self.results = results or []
