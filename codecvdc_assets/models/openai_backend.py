"""Any OpenAI-compatible endpoint (vLLM servers, hosted APIs) through the `openai` client.

Several base URLs (data-parallel vLLM replicas) are used round-robin, each with its own concurrency
limit. Retries are the openai client's own: exponential backoff on 408/409/429/5xx, timeouts and
connection errors, honouring Retry-After. When they run out, the failure is raised as a TransportError
whose message names the fault and the number of attempts, e.g. "HTTP 503 (...) after 3 attempts".
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import openai

from .types import RawAnswer, Sampling, TransportError


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
                base_url=url, api_key=self._api_key, timeout=self.timeout_s, max_retries=self.max_retries
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
            try:
                raw = await self._clients[i].chat.completions.with_raw_response.create(
                    model=self.model,
                    messages=messages,
                    response_format={
                        "type": "json_schema",
                        "json_schema": {"name": task, "schema": schema, "strict": True},
                    },
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_tokens=sampling.max_tokens,
                    seed=sampling.seed,
                )
            except openai.APIError as exc:
                attempts = _attempts(exc)
                plural = "s" if attempts != 1 else ""
                message = f"{self._describe(exc)} after {attempts} attempt{plural}"
                raise TransportError(message, attempts, self.base_urls[i]) from exc
        response = raw.parse()
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return RawAnswer(
            text=(choice.message.content or "") if choice else "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=(choice.finish_reason or "stop") if choice else "stop",
            endpoint=self.base_urls[i],
            http_attempts=raw.retries_taken + 1,
        )

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
    """Attempts made, from the retry counter the openai client puts on every request it sends."""
    try:
        return int(exc.request.headers.get("x-stainless-retry-count", "0")) + 1
    except (AttributeError, ValueError):
        return 1
