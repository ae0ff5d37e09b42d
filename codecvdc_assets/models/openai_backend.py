"""Any OpenAI-compatible endpoint (vLLM servers, hosted APIs) through the `openai` client.

Several base URLs (data-parallel vLLM replicas) are used round-robin, each with its own concurrency
limit. Retries are the openai client's own: exponential backoff on 408/409/429/5xx, timeouts and
connection errors, honouring Retry-After. When they run out, the failure is raised as a TransportError
whose message names the fault and the number of attempts, e.g. "HTTP 503 (...) after 3 attempts".

Requests go through the client's documented raw verb (`client.post("/chat/completions", cast_to=
Response)`): retries, timeouts and auth are the client's, but the typed `chat.completions.create` path
walks every message and the JSON schema through its type-driven transform and builds pydantic models
of the answer, 30 % of the client's CPU per request (bench suite 2, 320 requests/s from one process).
The body is the same JSON the typed call sends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import openai

try:  # the HTTP library the openai client is built on (httpx2 from openai 3, httpx before)
    from httpx2 import Response as HttpResponse
except ImportError:  # pragma: no cover - older openai releases
    from httpx import Response as HttpResponse

from codecvdc_assets.models.types import RawAnswer, Sampling, TransportError


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        base_urls: list[str],
        api_key: str | None = None,
        per_endpoint_concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 4,
    ) -> None:
        if not base_urls:
            raise ValueError("the openai backend needs at least one base URL")
        self.model = model
        self.base_urls = list(base_urls)
        self._api_key = api_key or "EMPTY"  # vLLM accepts any key; never logged or recorded
        self.per_endpoint_concurrency = per_endpoint_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._clients: list[openai.AsyncOpenAI] = []
        self._gates: list[asyncio.Semaphore] = []
        self._turn = itertools.count()

    def __repr__(self) -> str:  # keeps the key out of reprs and logs
        return f"OpenAIBackend(model={self.model!r}, base_urls={self.base_urls!r})"

    async def open(self) -> None:
        self._clients = [
            openai.AsyncOpenAI(
                base_url=url,
                api_key=self._api_key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
            )
            for url in self.base_urls
        ]
        self._gates = [asyncio.Semaphore(self.per_endpoint_concurrency) for _ in self.base_urls]

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
        self._clients, self._gates = [], []

    async def chat(
        self, messages: list[dict[str, Any]], task: str, schema: dict[str, Any], sampling: Sampling
    ) -> RawAnswer:
        i = next(self._turn) % len(self._clients)
        async with self._gates[i]:
            body = {
                "model": self.model,
                "messages": messages,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": task, "schema": schema, "strict": True},
                },
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "max_tokens": sampling.max_tokens,
                "seed": sampling.seed,
            }
            try:
                raw = await self._clients[i].post("/chat/completions", cast_to=HttpResponse, body=body)
            except openai.APIError as exc:
                attempts = _attempts(exc)
                plural = "s" if attempts != 1 else ""
                message = f"{self._describe(exc)} after {attempts} attempt{plural}"
                raise TransportError(message, attempts, self.base_urls[i]) from exc
        attempts = _attempts_of(raw.request)
        try:
            response = json.loads(raw.content)
            choices = response.get("choices") or []
            choice = choices[0] if choices else {}
            usage = response.get("usage") or {}
            return RawAnswer(
                text=(choice.get("message") or {}).get("content") or "",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=choice.get("finish_reason") or "stop",
                endpoint=self.base_urls[i],
                http_attempts=attempts,
            )
        except (ValueError, TypeError, AttributeError) as exc:
            plural = "s" if attempts != 1 else ""
            message = f"not a chat completion ({type(exc).__name__}: {str(exc)[:200]}) after {attempts} attempt{plural}"
            raise TransportError(message, attempts, self.base_urls[i]) from exc

    def _describe(self, exc: openai.APIError) -> str:
        """The fault in a few words; the server's message is kept short and never includes the key."""
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code in (401, 403):  # hosted APIs echo part of a rejected key: never keep their text
                return f"HTTP {exc.status_code} (the API key was refused; check the profile's api_key_env variable)"
            message = exc.body.get("message") if isinstance(exc.body, dict) else None
            message = str(message or "").replace(self._api_key, "***").splitlines()[0][:200] if message else ""
            return f"HTTP {exc.status_code}" + (f" ({message})" if message else "")
        if isinstance(exc, openai.APITimeoutError):
            return f"timed out (no response within {self.timeout_s:g} s)"
        cause = exc.__cause__
        reason = f"{type(cause).__name__}: {str(cause).splitlines()[0][:200]}" if cause and str(cause) else exc.message
        return f"connection failed ({reason})"


def _attempts(exc: openai.APIError) -> int:
    return _attempts_of(getattr(exc, "request", None))


def _attempts_of(request: Any) -> int:
    """Attempts made, from the retry counter the openai client puts on every request it sends."""
    try:
        return int(request.headers.get("x-stainless-retry-count", "0")) + 1
    except (AttributeError, ValueError):
        return 1
