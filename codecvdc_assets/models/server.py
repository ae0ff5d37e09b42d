"""The embedded models behind an OpenAI-compatible HTTP API (`codecvdc serve-embedded`).

Endpoints: POST /v1/chat/completions (JSON-schema response_format, whose schema name is the task; a
plain request without one gets plain text: models/embedded/backend.py `plain_reply`) and GET /v1/models.
Binds to loopback by default. A FaultPlan injects latency and faults, so the real
openai client, its retries and our schema handling are tested over real HTTP:

- latency_s: added to every request;
- script: faults for the first requests in order ("ok" for a clean one), then clean answers;
- fault_rate + faults: otherwise each request gets a random fault with that probability (seeded);
  `plan.update(fault_rate=0)` changes them while the server runs;
- task_script: {task: faults} for the first requests of one task (e.g. a cut answer on `chapter` only),
  drawn before `script`.

A served window, like vLLM's --max-model-len: with `context_tokens` set, a request whose prompt (counted
as models/budget.py estimates it) plus its max_tokens exceeds the window gets HTTP 400 with vLLM's
wording ("This model's maximum context length is N tokens. However, you requested ..."); an empty
`messages` list gets 400 too.

Faults: 429 (with a `Retry-After` header of `retry_after_s` seconds), 500, 503, reset (the connection
is closed mid-response: headers and part of the body, then nothing), malformed (invalid JSON), schema
(valid JSON, wrong shape), empty (no content), truncated (cut in half, finish_reason "length"), timeout
(no answer for `hang_s`, or until the client gives up).

Degenerate answers (models/degenerate.py, DEGENERATE; not in FAULTS, which are transport and schema
faults): valid JSON whose caption text is a loop, a refusal, the prompt echoed, another language, one
sentence for every frame (same_sentence) or one caption for every video (one_caption).

`plan.log` keeps what the server saw of each request (arrival time, outcome, task, the cache key the
client computes for it, the Authorization header, the last user message's text), so tests can assert
on attempts, delays between them, re-ask messages and keys actually sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from codecvdc_assets.models.budget import estimate_prompt_tokens
from codecvdc_assets.models.cache import cache_key
from codecvdc_assets.models.degenerate import DEGENERATE, degenerate_answer
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, VISION_MODEL, EmbeddedError, answer, plain_reply
from codecvdc_assets.models.messages import texts

FAULTS = ("429", "500", "503", "reset", "malformed", "schema", "empty", "truncated", "timeout")
MODELS = (VISION_MODEL, TEXT_MODEL)
LOG_LIMIT = 100_000  # requests remembered in plan.log


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    t: float  # time.monotonic() on arrival
    outcome: str
    task: str
    key: str  # the cache key the client computes for this request (backend "openai")
    authorization: str
    retry_count: int  # the openai client's x-stainless-retry-count: 0 for a first attempt
    last_user_text: str


@dataclass
class FaultPlan:
    latency_s: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = ("429", "500", "malformed", "truncated")
    script: list[str] = field(default_factory=list)
    task_script: dict[str, list[str]] = field(default_factory=dict)
    context_tokens: int | None = None
    seed: int = 0
    retry_after_s: float = 0.2
    hang_s: float = 30.0
    stats: Counter = field(default_factory=Counter)
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))

    def __post_init__(self) -> None:
        self._check(self.faults, [*self.script, *(f for fs in self.task_script.values() for f in fs)])
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @staticmethod
    def _check(faults: tuple[str, ...], script: list[str]) -> None:
        unknown = [f for f in [*faults, *script] if f not in FAULTS and f not in DEGENERATE and f != "ok"]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join([*FAULTS, *DEGENERATE])}")

    def update(self, fault_rate: float | None = None, faults: tuple[str, ...] | None = None) -> None:
        """Change the random faults while the server runs (e.g. "the endpoint recovered")."""
        with self._lock:
            self._check(faults or (), [])
            if fault_rate is not None:
                self.fault_rate = fault_rate
            if faults is not None:
                self.faults = tuple(faults)

    def draw(self, task: str = "") -> str:
        with self._lock:
            if self.task_script.get(task):
                outcome = self.task_script[task].pop(0)
            elif self.script:
                outcome = self.script.pop(0)
            elif self.fault_rate and self._rng.random() < self.fault_rate:
                outcome = self._rng.choice(self.faults)
            else:
                outcome = "ok"
            self.stats[outcome] += 1
            self.stats["requests"] += 1
            return outcome


def create_app(plan: FaultPlan | None = None) -> Starlette:
    plan = plan or FaultPlan()

    async def models(_: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "codecvdc"} for m in MODELS]}
        )

    async def chat(request: Request) -> Response:
        arrived = time.monotonic()
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not JSON")
        model = body.get("model")
        if model not in MODELS:
            return _error(404, f"The model `{model}` does not exist.")
        too_long = _over_context(body, plan.context_tokens)
        if too_long:
            return _error(400, too_long, kind="BadRequestError")
        response_format = body.get("response_format") or {"type": "text"}
        if response_format.get("type") == "text":  # a plain chat request: a plain text answer
            return await _plain(body, model)
        schema = response_format.get("json_schema") or {}
        task = schema.get("name")
        if not task:
            return _error(400, "response_format.json_schema.name (the task) is required for a JSON answer")
        outcome = plan.draw(task)
        plan.log.append(_seen(request, body, arrived, outcome, task, schema.get("schema") or {}))
        if outcome in ("429", "500", "503"):
            # Retry-After in (fractional) seconds; the openai client waits that long (<= 120 s, else no retry).
            headers = {"retry-after": f"{plan.retry_after_s:g}"} if outcome == "429" else {}
            return _error(int(outcome), f"injected fault {outcome}", headers)
        if outcome == "reset":
            return _Reset()
        if outcome == "timeout":
            deadline = time.monotonic() + plan.hang_s
            while time.monotonic() < deadline and not await request.is_disconnected():
                await asyncio.sleep(0.05)  # until the client gives up: no task outlives the test
        try:
            raw = await asyncio.to_thread(answer, body.get("messages") or [], task)
        except EmbeddedError as exc:
            return _error(400, str(exc))
        content, finish, completion = raw.text, "stop", raw.completion_tokens
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if outcome == "truncated" or (max_tokens and completion > max_tokens):
            content, finish = content[: len(content) // 2], "length"
        elif outcome == "malformed":
            content = content[: max(1, len(content) // 3)] + ' "unterminated'
        elif outcome == "schema":
            content = json.dumps({"unexpected": True})
        elif outcome == "empty":
            content = ""
        elif outcome in DEGENERATE:
            content = degenerate_answer(outcome, content, task, body.get("messages") or [])
        return _completion(model, content, finish, raw.prompt_tokens, completion)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])
    app.state.plan = plan
    return app


async def _plain(body: dict, model: str) -> JSONResponse:
    try:
        raw = await asyncio.to_thread(plain_reply, body.get("messages") or [])
    except (EmbeddedError, ValueError) as exc:  # e.g. an image that is not a decodable picture
        return _error(400, str(exc))
    content, finish, completion = raw.text, "stop", raw.completion_tokens
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if max_tokens and completion > max_tokens:
        content, finish, completion = content[: len(content) // 2], "length", max_tokens
    return _completion(model, content, finish, raw.prompt_tokens, completion)


def _completion(model: str, content: str, finish: str, prompt: int, completion: int) -> JSONResponse:
    return JSONResponse(
        {
            "id": f"chatcmpl-{int(time.time() * 1e6)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }
    )


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, kind: str = "server_error"
) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status, headers)


def _over_context(body: dict, context_tokens: int | None) -> str:
    """vLLM's refusals of a request that cannot be served: no messages, or prompt + max_tokens over the window."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: the list of messages must not be empty"
    if not context_tokens:
        return ""
    prompt = estimate_prompt_tokens(messages)
    completion = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
    if prompt + completion <= context_tokens:
        return ""
    return (
        f"This model's maximum context length is {context_tokens} tokens. However, you requested "
        f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
        "Please reduce the length of the messages or completion."
    )


def _seen(request: Request, body: dict, arrived: float, outcome: str, task: str, schema: dict) -> Seen:
    messages = body.get("messages") or []
    sampling = {k: body.get(k) for k in ("temperature", "max_tokens", "top_p", "seed")}
    try:
        retries = int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        retries = 0
    user_texts = texts(messages[-1:], "user") if messages else []
    return Seen(
        arrived,
        outcome,
        task,
        cache_key("openai", body.get("model", ""), messages, schema, sampling),
        request.headers.get("authorization", ""),
        retries,
        "\n".join(user_texts),
    )


class InjectedReset(ConnectionResetError):
    """Raised inside the server to drop a connection mid-response (the `reset` fault)."""


class _Reset(Response):
    """Send the status line, headers and part of the body, then drop the connection."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-reset", "choices": [', "more_body": True})
        raise InjectedReset("injected fault: connection reset mid-response")


class _QuietResets(logging.Filter):
    """uvicorn logs every exception of the app with a traceback; injected resets are not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedReset))


logging.getLogger("uvicorn.error").addFilter(_QuietResets())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LoopbackServer:
    """The server in a background thread (tests and benchmarks): `with LoopbackServer(plan) as s:`."""

    def __init__(self, plan: FaultPlan | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.plan = plan or FaultPlan()
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            create_app(self.plan),
            host=host,
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="loopback-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"loopback server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve(host: str, port: int, plan: FaultPlan) -> None:
    """Run in the foreground (the CLI)."""
    uvicorn.run(create_app(plan), host=host, port=port, log_level="info")
