"""ModelClient: cache, bounded concurrency, answer validation with one re-ask, and call records.

Backends only turn messages into text; everything a caller relies on happens here:
- a cache hit returns the stored answer and records a `cache_hit` row (no backend call);
- an answer that is not valid JSON for the schema, or was cut at max_tokens, is re-asked once with
  the reason; a second failure is recorded (`invalid` / `truncated`) and reported, never dropped;
- transport failures (after the backend's own retries) are recorded as `error`;
- a request whose estimated prompt cannot fit the model's window (models/budget.py) is not sent: it is
  recorded as `refused` with one line naming the video, the asset and the sizes; a re-ask that would not
  fit is not sent either (the first answer's fault is reported);
- a failed call is never cached, so a later run asks again; a successful one is cached, so it is never
  asked twice;
- with an `answer_check` (the caption quality gates, quality/answers.py), a valid answer the check flags
  is recorded with `error` "flagged: <flags>" and asked again with each of `reask_sampling` in turn (another
  seed / temperature: another cache key, cached like any call) until one passes; the last answer is kept
  with its flags (ModelResult.flags) and the number of asks (ModelResult.asks), and `outcomes` keeps
  every re-asked or still flagged answer for the caption_quality table.

A failed call's message names the task and the fault; ModelCallError adds the video and the asset,
e.g. "clip-0123456789/anchors: 1 of 1 anchor call(s) failed; first: anchor: HTTP 503 (...) after 3 attempts".
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from codecvdc_assets.models.budget import Budget, estimate_prompt_tokens, over_budget_message
from codecvdc_assets.models.cache import CallCache, cache_key
from codecvdc_assets.models.types import (
    CallRecord,
    ModelCallError,
    ModelRequest,
    ModelResult,
    RawAnswer,
    Sampling,
    TransportError,
)
from codecvdc_assets.models.validation import parse_answer

DEFAULT_WINDOW = 32768


class Backend(Protocol):
    name: str
    model: str

    async def chat(
        self, messages: list[dict[str, Any]], task: str, schema: dict[str, Any], sampling: Sampling
    ) -> RawAnswer: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


# The flags of a valid answer (an empty list: accepted); see quality/answers.py.
AnswerCheck = Callable[[ModelRequest, dict[str, Any]], list[str]]


@dataclass(frozen=True)
class AnswerOutcome:
    """A final answer that was re-asked or is still flagged: what the caption_quality table records."""

    video_id: str | None
    asset: str | None
    task: str
    data: dict[str, Any]
    flags: tuple[str, ...]
    asks: int  # 1 for the first ask; 1 + re-asks made for the flags


class ModelClient:
    def __init__(
        self,
        backend: Backend,
        sampling: Sampling | None = None,
        cache: CallCache | None = None,
        concurrency: int = 8,
        answer_check: AnswerCheck | None = None,
        reask_sampling: Sequence[Sampling] = (),
        context_tokens: int | None = None,
    ) -> None:
        self.backend = backend
        self.sampling = sampling or Sampling()
        self.cache = cache
        self.concurrency = max(1, concurrency)
        self.records: list[CallRecord] = []
        self.answer_check = answer_check
        self.reask_sampling = list(reask_sampling)
        self.outcomes: list[AnswerOutcome] = []
        # None: no window known (nothing refused); planners then use the default window.
        self.context_tokens = context_tokens

    @property
    def budget(self) -> Budget:
        """The window requests are planned against (the default window when none was configured)."""
        if self.context_tokens is None:
            return Budget(max(DEFAULT_WINDOW, self.sampling.max_tokens * 2), self.sampling.max_tokens)
        return Budget(self.context_tokens, self.sampling.max_tokens)

    def fits(self, request: ModelRequest) -> bool:
        return self.budget.fits(estimate_prompt_tokens(request.messages))

    # ------------------------------------------------------------------ public, synchronous
    def complete(self, request: ModelRequest) -> dict[str, Any]:
        return self.complete_many([request])[0].data  # type: ignore[return-value]

    def complete_many(self, requests: Sequence[ModelRequest], raise_on_error: bool = True) -> list[ModelResult]:
        """Run all requests (bounded concurrency); every finished call is cached even if others fail."""
        results = asyncio.run(self._run_all(list(requests)))
        if raise_on_error:
            _raise_failures(results)
        return results

    def complete_stream(self, requests: Iterable[ModelRequest], raise_on_error: bool = True) -> list[ModelResult]:
        """complete_many over a lazily made stream of requests: the next request is made only when a slot of
        the bounded concurrency frees up, so at most `concurrency` requests (and their images) exist at once,
        however long the video; the results, in the stream's order, keep their request without its messages
        (video, asset and task still name a failure). With `raise_on_error`, the first failure stops the
        stream (what finished is cached) and is raised like complete_many's."""
        results = asyncio.run(self._run_stream(iter(requests), raise_on_error))
        if raise_on_error:
            _raise_failures(results)
        return results

    # ------------------------------------------------------------------ internals
    async def _run_all(self, requests: list[ModelRequest]) -> list[ModelResult]:
        gate = asyncio.Semaphore(self.concurrency)
        await self.backend.open()
        try:

            async def one(request: ModelRequest) -> ModelResult:
                async with gate:
                    return await self._complete(request)

            return await asyncio.gather(*(one(r) for r in requests))
        finally:
            await self.backend.close()

    async def _run_stream(self, requests: Iterator[ModelRequest], stop_on_error: bool) -> list[ModelResult]:
        gate = asyncio.Semaphore(self.concurrency)
        done: dict[int, ModelResult] = {}
        running: set[asyncio.Task] = set()

        async def one(i: int, request: ModelRequest) -> None:
            try:
                result = await self._complete(request)
                done[i] = replace(result, request=replace(request, messages=[]))
            finally:
                gate.release()

        await self.backend.open()
        try:
            for i, request in enumerate(requests):
                await gate.acquire()  # before the next request is made
                if stop_on_error and any(not r.ok for r in done.values()):
                    gate.release()
                    break
                task = asyncio.create_task(one(i, request))
                running.add(task)
                task.add_done_callback(running.discard)
                del request
            await asyncio.gather(*running)
        finally:
            await self.backend.close()
        return [done[i] for i in sorted(done)]

    async def _complete(self, request: ModelRequest) -> ModelResult:
        result = await self._ask(request, self.sampling)
        if self.answer_check is None or not result.ok:
            return result
        flags, asks = list(result.flags), 1
        prompt, completion, latency = result.prompt_tokens, result.completion_tokens, result.latency_s
        for sampling in self.reask_sampling:
            if not flags:
                break
            again = await self._ask(request, sampling)
            prompt, completion = prompt + again.prompt_tokens, completion + again.completion_tokens
            latency += again.latency_s
            if not again.ok:  # a re-ask that fails keeps the flagged answer
                break
            asks += 1
            result, flags = again, list(again.flags)
        if flags or asks > 1:
            self.outcomes.append(
                AnswerOutcome(request.video_id, request.asset, request.task, result.data or {}, tuple(flags), asks)
            )
        return dataclasses.replace(
            result, prompt_tokens=prompt, completion_tokens=completion, latency_s=latency, flags=tuple(flags), asks=asks
        )

    def _flags(self, request: ModelRequest, data: dict[str, Any]) -> list[str]:
        return self.answer_check(request, data) if self.answer_check is not None else []

    async def _ask(self, request: ModelRequest, sampling: Sampling) -> ModelResult:
        key = cache_key(self.backend.name, self.backend.model, request.messages, request.schema, sampling.as_dict())
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                flags = self._flags(request, hit["data"])
                # The tokens the cached answer cost when it was made; cache_hit says no new call was paid.
                self._record(
                    request,
                    key,
                    "",
                    hit.get("prompt_tokens", 0),
                    hit.get("completion_tokens", 0),
                    0.0,
                    "ok",
                    cache_hit=True,
                    error=_flagged(flags),
                    http_attempts=0,
                )
                return ModelResult(
                    request,
                    hit["data"],
                    "ok",
                    True,
                    hit.get("prompt_tokens", 0),
                    hit.get("completion_tokens", 0),
                    flags=tuple(flags),
                )
        if self.context_tokens is not None:
            estimate = estimate_prompt_tokens(request.messages)
            if not self.budget.fits(estimate):
                reason = over_budget_message(request.video_id, request.asset, request.task, estimate, self.budget)
                self._record(request, key, "", 0, 0, 0.0, "refused", error=reason, http_attempts=0)
                return ModelResult(request, None, "refused", False, error=reason)
        messages = list(request.messages)
        total_prompt = total_completion = 0
        started = time.perf_counter()
        status, reason = "error", "no attempt"
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                raw = await self.backend.chat(messages, request.task, request.schema, sampling)
            except Exception as exc:  # transport failure after the backend's own retries
                if isinstance(exc, TransportError):
                    reason, tries, endpoint = str(exc), exc.attempts, exc.endpoint
                else:
                    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
                    tries, endpoint = 1, ""
                self._record(
                    request,
                    key,
                    endpoint,
                    0,
                    0,
                    time.perf_counter() - t0,
                    "error",
                    error=reason,
                    attempt=attempt,
                    http_attempts=tries,
                )
                return ModelResult(
                    request,
                    None,
                    "error",
                    False,
                    total_prompt,
                    total_completion,
                    time.perf_counter() - started,
                    f"{request.task}: {reason}",
                )
            total_prompt += raw.prompt_tokens
            total_completion += raw.completion_tokens
            data, problem = parse_answer(raw.text, request.schema)
            if raw.finish_reason == "length":
                status, reason = "truncated", f"answer cut at max_tokens={sampling.max_tokens}"
                data = None
            elif problem:
                status, reason = "invalid", problem
            else:
                status = "ok"
            flags = self._flags(request, data) if status == "ok" else []
            latency = time.perf_counter() - t0
            if status == "ok" and self.cache is not None:
                # Cached before it is recorded: a process killed in between has a record-less answer
                # (never paid twice), not a record of a paid answer it lost.
                self.cache.put(
                    key,
                    {
                        "data": data,
                        "prompt_tokens": total_prompt,
                        "completion_tokens": total_completion,
                        "model": self.backend.model,
                    },
                )
            self._record(
                request,
                key,
                raw.endpoint,
                raw.prompt_tokens,
                raw.completion_tokens,
                latency,
                status,
                error=_flagged(flags) if status == "ok" else reason,
                attempt=attempt,
                http_attempts=raw.http_attempts,
            )
            if status == "ok":
                return ModelResult(
                    request,
                    data,
                    "ok",
                    False,
                    total_prompt,
                    total_completion,
                    time.perf_counter() - started,
                    flags=tuple(flags),
                )
            # One re-ask, telling the model what was wrong.
            reask = [
                *request.messages,
                {"role": "assistant", "content": raw.text[:4000]},
                {
                    "role": "user",
                    "content": f"Your answer was rejected: {reason}. "
                    "Reply again with only a JSON object that matches the schema."
                    + (" Be more concise." if status == "truncated" else ""),
                },
            ]
            if self.context_tokens is not None and not self.budget.fits(estimate_prompt_tokens(reask)):
                reason += " (the re-ask would not fit context_tokens, not sent)"
                break
            messages = reask
        return ModelResult(
            request,
            None,
            status,
            False,
            total_prompt,
            total_completion,
            time.perf_counter() - started,
            f"{request.task}: {status} answer, "
            f"{'asked twice (one re-ask)' if attempt == 2 else 'asked once'}: {reason}",
        )

    def _record(
        self,
        request: ModelRequest,
        key: str,
        endpoint: str,
        prompt: int,
        completion: int,
        latency: float,
        status: str,
        cache_hit: bool = False,
        error: str | None = None,
        attempt: int = 1,
        http_attempts: int = 1,
    ) -> None:
        self.records.append(
            CallRecord(
                request.video_id,
                request.asset,
                request.task,
                self.backend.name,
                self.backend.model,
                endpoint,
                prompt,
                completion,
                round(latency, 6),
                status,
                cache_hit,
                key,
                error,
                attempt,
                http_attempts,
            )
        )

    def take_records(self) -> list[CallRecord]:
        records, self.records = self.records, []
        return records


def _flagged(flags: list[str]) -> str | None:
    """The `error` of a valid answer the quality gates flagged (model_calls): "flagged: refusal"."""
    return f"flagged: {', '.join(flags)}" if flags else None


def _raise_failures(results: list[ModelResult]) -> None:
    """ModelCallError naming the video, the asset and the first fault, when any call failed."""
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        where = "/".join(p for p in (first.request.video_id, first.request.asset) if p)
        raise ModelCallError(
            f"{where + ': ' if where else ''}{len(failed)} of {len(results)} {first.request.task} call(s) "
            f"failed; first: {first.error}",
            results,
        )
