"""An OpenAI-compatible server on loopback, with scripted faults.

It lets the real ``openai`` client, over real HTTP, meet every failure the
openai backend claims to survive — rate limits, 5xx, stalls, connections cut
mid-body, garbage content — in tests and benchmarks, and lets a user point
the openai backend at something that answers without any model.

What it answers is up to the caller: ``create_app(answer)`` takes a function
``answer(model, messages) -> str`` (or an async one). Faults come from a
:class:`FaultPlan`, given at creation or loaded later with ``POST /faults``;
each chat request takes the next fault off the plan until it is empty.
``GET /stats`` says what the server saw.

By default it answers every request at once. With ``slots=N`` it works like llama.cpp's
server (or llama-cpp-python's, or Ollama's) on a small machine: N requests at a time, the
rest wait in its queue in arrival order, and a request whose client hung up (timed out) is
worked on all the same — the work is *abandoned*, and a retry of it is *served twice*. It
tells those apart by the ``X-Luotuo-Request`` header the openai backend sends (or, without
it, by the request's body). ``POST
/config`` changes the latency and the slots mid-run (a server that gets faster or slower).
``GET /props`` states ``total_slots`` as llama.cpp does, unless told not to (Ollama and
llama-cpp-python state nothing).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import itertools
import json
import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator
from starlette.types import Receive, Scope, Send

from luotuo_rpg.llm.chat import estimate_tokens

log = logging.getLogger(__name__)

AnswerFn = Callable[[str, list[dict[str, Any]]], str | Awaitable[str]]
EmbedFn = Callable[[list[str]], np.ndarray]

REFUSAL_TEXT = "作为一个AI语言模型，我无法……"

FaultKind = Literal[
    "401",
    "429",
    "500",
    "502",
    "503",
    "timeout",
    "truncated_body",
    "malformed_json_content",
    "empty_content",
    "refusal",
]


class Fault(BaseModel):
    kind: FaultKind
    retry_after: float | None = Field(
        default=None, ge=0, description="429/5xx: send a Retry-After header with these seconds."
    )
    seconds: float = Field(default=5.0, ge=0, description="timeout: how long the server stalls before answering.")
    message: str | None = Field(default=None, description="401/429/5xx: the error text the server sends.")


class FaultPlan(BaseModel):
    """Faults for the next chat requests, in order; one per request.

    Accepts a bare list too (``[{"kind": "429"}, …]``), which is what one
    writes by hand in a ``POST /faults`` body.
    """

    faults: list[Fault] = Field(default_factory=list)
    repeat: bool = Field(default=False, description="Cycle through the faults forever (a server that always 500s).")

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return {"faults": value} if isinstance(value, list) else value


class MockStats(BaseModel):
    requests: int = Field(description="Chat requests received, faulty ones included.")
    in_flight: int
    max_in_flight: int = Field(description="Most chat requests being handled at once.")
    faults_injected: dict[str, int]
    requests_by_model: dict[str, int]
    json_mode_requests: int = Field(description="Chat requests that asked for response_format.")
    json_mode_rejections: int
    response_formats: dict[str, int] = Field(description="Chat requests by response_format dialect (plain: none).")
    embedding_requests: int
    embedded_texts: int
    served: int = Field(description="Chat requests worked on (given a slot and the model time).")
    abandoned: int = Field(description="Worked on for a client that had hung up by the time the answer was ready.")
    served_twice: int = Field(description="Worked on although a copy with the same request id had been already.")
    in_flight_twice: int = Field(description="Arrived while a copy with the same request id was still connected.")
    max_queued: int = Field(description="Most requests waiting for a slot at once.")
    slots: int | None
    latency_s: float


class ServerConfig(BaseModel):
    """``POST /config``: what changes mid-run; fields left out stay."""

    latency_s: float | None = Field(default=None, ge=0)
    slots: int | None = Field(default=None, ge=1)


class SlotQueue:
    """N requests at a time, the rest in arrival order (asyncio's own locks are not FIFO-fair)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.busy = 0
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.busy < self.slots and not self.waiting:
            self.busy += 1
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        await future

    def release(self) -> None:
        self.busy -= 1
        self._wake()

    def resize(self, slots: int) -> None:
        self.slots = slots
        self._wake()

    def _wake(self) -> None:
        while self.waiting and self.busy < self.slots:
            future = self.waiting.popleft()
            if not future.done():
                self.busy += 1
                future.set_result(None)


@dataclass
class MockState:
    """What the server has seen and what it will do next (``app.state.mock``)."""

    faults: deque[Fault] = field(default_factory=deque)
    repeat: bool = False
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    requests_by_model: Counter[str] = field(default_factory=Counter)
    json_mode_requests: int = 0
    json_mode_rejections: int = 0
    response_formats: Counter[str] = field(default_factory=Counter)
    embedding_requests: int = 0
    embedded_texts: int = 0
    latency_s: float = 0.0
    slot_queue: SlotQueue | None = None
    served: int = 0
    abandoned: int = 0
    served_twice: int = 0
    in_flight_twice: int = 0
    max_queued: int = 0
    served_ids: set[str] = field(default_factory=set)
    connected_ids: Counter[str] = field(default_factory=Counter)

    def load(self, plan: FaultPlan) -> None:
        self.faults = deque(plan.faults)
        self.repeat = plan.repeat

    def next_fault(self) -> Fault | None:
        if not self.faults:
            return None
        fault = self.faults.popleft()
        if self.repeat:
            self.faults.append(fault)
        self.faults_injected[fault.kind] += 1
        return fault

    def stats(self) -> MockStats:
        return MockStats(
            requests=self.requests,
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
            faults_injected=dict(self.faults_injected),
            requests_by_model=dict(self.requests_by_model),
            json_mode_requests=self.json_mode_requests,
            json_mode_rejections=self.json_mode_rejections,
            response_formats=dict(self.response_formats),
            embedding_requests=self.embedding_requests,
            embedded_texts=self.embedded_texts,
            served=self.served,
            abandoned=self.abandoned,
            served_twice=self.served_twice,
            in_flight_twice=self.in_flight_twice,
            max_queued=self.max_queued,
            slots=self.slot_queue.slots if self.slot_queue is not None else None,
            latency_s=self.latency_s,
        )


def hashed_vectors(texts: list[str], dim: int) -> np.ndarray:
    """Deterministic pseudo-embeddings: a Gaussian vector seeded by each text's
    SHA-256. Deliberately not normalised, so clients must normalise."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        rows.append(np.random.default_rng(seed).standard_normal(dim))
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), dim)


class _TruncatedJSONResponse(Response):
    """Announces the whole body's Content-Length, sends half of it and stops.

    uvicorn then closes the connection (logging "ASGI callable returned
    without completing response"), and the client sees a body cut short —
    exactly what a proxy dying mid-response looks like.
    """

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(content=json.dumps(payload, ensure_ascii=False), media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


def dialect_of(fmt: Any) -> str:
    """The ``response_format`` dialect a request body speaks (the names of ``llm/backends/response_format.py``)."""
    if not isinstance(fmt, dict):
        return "plain"
    if fmt.get("type") == "json_schema":
        return "json_schema_strict" if (fmt.get("json_schema") or {}).get("strict") else "json_schema"
    if fmt.get("type") == "json_object":
        return "json_object_schema" if "schema" in fmt else "json_object"
    return str(fmt.get("type"))


def _error(status: int, message: str, kind: str, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def _content_tokens(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        content = message.get("content") or ""
        total += estimate_tokens(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
    return total


def _cut_json(text: str) -> str:
    # Half of the real answer when it is JSON, so the cut is realistic;
    # otherwise a typical JSON answer that stops mid-string.
    if text.lstrip().startswith(("{", "[")) and len(text) > 2:
        return text[: len(text) // 2]
    return '{"action": "在客栈吃早饭", "location": "同福客栈'


async def _gone(request: Request) -> None:
    """Returns when the client hangs up (uvicorn delivers ``http.disconnect`` once the body is read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _stall(request: Request, seconds: float) -> None:
    """Sleep, but stop early once the client has hung up (it timed out), so the
    server can shut down promptly and in_flight reflects live requests."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, remaining))


def create_app(
    answer: AnswerFn,
    *,
    latency_s: float = 0.0,
    faults: FaultPlan | None = None,
    embed_dim: int = 256,
    embed: EmbedFn | None = None,
    models: Sequence[str] = ("luotuo-mock",),
    json_mode_supported: bool = True,
    include_usage: bool = True,
    dialects: Collection[str] | None = None,
    dialect_refusal_status: int = 400,
    slots: int | None = None,
    state_slots: bool = True,
) -> FastAPI:
    """An OpenAI-compatible app.

    ``answer(model, messages)`` gives the assistant text (sync or async);
    ``latency_s`` is added to every answered chat request, as model time;
    ``embed`` replaces the hashed vectors of ``/v1/embeddings``;
    ``json_mode_supported=False`` makes the server reject ``response_format``
    with a 400 the way some real servers do; ``dialects`` names the
    ``response_format`` dialects it takes (``llm/backends/response_format.py``; default all)
    and refuses the others with ``dialect_refusal_status`` (llama-cpp-python's
    server answers ``json_schema`` with a 500); ``include_usage=False`` leaves
    ``usage`` out, as some servers do; ``slots`` makes it serve that many requests at a time
    and queue the rest (see the module's docstring); ``state_slots=False`` leaves ``/props`` out.
    """
    app = FastAPI(title="luotuo-rpg mock OpenAI server")
    state = MockState(latency_s=latency_s, slot_queue=SlotQueue(slots) if slots is not None else None)
    if faults is not None:
        state.load(faults)
    app.state.mock = state
    completion_ids = itertools.count(1)

    def completion(model: str, text: str, prompt_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"chatcmpl-mock-{next(completion_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }
        if include_usage:
            completion_tokens = estimate_tokens(text)
            body["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return body

    async def answer_text(model: str, messages: list[dict[str, Any]]) -> str:
        text = answer(model, messages)
        if inspect.isawaitable(text):
            text = await text
        return str(text)

    async def model_time(request: Request) -> None:
        """The model's work: a slot (waiting in line for it), then the latency. A client that
        hangs up does not stop it, as on llama-cpp-python's server."""
        # A client that sends no request id (an older one) is told apart by what it asks.
        request_id = request.headers.get("x-luotuo-request") or hashlib.sha256(await request.body()).hexdigest()
        queue = state.slot_queue
        if queue is None:
            if state.latency_s > 0:
                await asyncio.sleep(state.latency_s)
            return
        if state.connected_ids[request_id] > 0:
            state.in_flight_twice += 1
        state.connected_ids[request_id] += 1
        watcher = asyncio.ensure_future(_gone(request))

        def hung_up(task: asyncio.Future[None]) -> None:
            if not task.cancelled():
                state.connected_ids[request_id] -= 1

        watcher.add_done_callback(hung_up)
        try:
            state.max_queued = max(state.max_queued, len(queue.waiting) + 1 if queue.busy >= queue.slots else 0)
            await queue.acquire()
            try:
                state.served += 1
                state.served_twice += request_id in state.served_ids
                state.served_ids.add(request_id)
                if state.latency_s > 0:
                    await asyncio.sleep(state.latency_s)
            finally:
                queue.release()
            if watcher.done():
                state.abandoned += 1
        finally:
            if not watcher.done():
                watcher.cancel()
                state.connected_ids[request_id] -= 1

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            body = await request.json()
            model = str(body.get("model", ""))
            messages = list(body.get("messages") or [])
            state.requests_by_model[model] += 1
            dialect = dialect_of(body.get("response_format"))
            state.response_formats[dialect] += 1
            if dialect != "plain" and dialects is not None and dialect not in dialects:
                state.json_mode_rejections += 1
                return _error(
                    dialect_refusal_status, f"response_format {dialect} is not supported", "invalid_request_error"
                )
            if body.get("response_format") is not None:
                state.json_mode_requests += 1
                if not json_mode_supported:
                    state.json_mode_rejections += 1
                    return _error(400, "response_format is not supported by this server", "invalid_request_error")

            fault = state.next_fault()
            if fault is not None:
                log.debug("injecting fault %s", fault.kind)
                if fault.kind == "401":
                    return _error(401, fault.message or "invalid API key", "invalid_request_error")
                if fault.kind == "429":
                    return _error(429, fault.message or "rate limit reached", "rate_limit_error", fault.retry_after)
                if fault.kind in ("500", "502", "503"):
                    text = fault.message or "injected server error"
                    return _error(int(fault.kind), text, "server_error", fault.retry_after)
                if fault.kind == "timeout":
                    await _stall(request, fault.seconds)

            await model_time(request)
            prompt_tokens = _content_tokens(messages)
            if fault is not None and fault.kind == "empty_content":
                text = ""
            elif fault is not None and fault.kind == "refusal":
                text = REFUSAL_TEXT
            else:
                text = await answer_text(model, messages)
                if fault is not None and fault.kind == "malformed_json_content":
                    text = _cut_json(text)
            payload = completion(model, text, prompt_tokens)
            if fault is not None and fault.kind == "truncated_body":
                return _TruncatedJSONResponse(payload)
            return JSONResponse(payload)
        finally:
            state.in_flight -= 1

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
        state.embedding_requests += 1
        state.embedded_texts += len(texts)
        vectors = np.asarray(embed(texts) if embed is not None else hashed_vectors(texts, embed_dim), dtype=np.float32)
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
                if as_base64
                else row.tolist(),
            }
            for i, row in enumerate(vectors)
        ]
        tokens = sum(estimate_tokens(t) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "luotuo-rpg"} for m in models],
        }

    @app.get("/stats")
    async def stats() -> MockStats:
        return state.stats()

    if state_slots:

        @app.get("/props")
        async def props() -> dict[str, Any]:
            # llama.cpp's shape; without slots it serves everything at once, so it says a lot.
            return {"total_slots": state.slot_queue.slots if state.slot_queue is not None else 1024}

    @app.post("/config")
    async def configure(change: ServerConfig) -> MockStats:
        if change.latency_s is not None:
            state.latency_s = change.latency_s
        if change.slots is not None:
            if state.slot_queue is None:
                state.slot_queue = SlotQueue(change.slots)
            else:
                state.slot_queue.resize(change.slots)
        return state.stats()

    @app.post("/faults")
    async def load_faults(plan: FaultPlan) -> dict[str, Any]:
        state.load(plan)
        return {"queued": len(plan.faults), "repeat": plan.repeat}

    return app


@dataclass
class RunningServer:
    """A uvicorn server in a background thread; a context manager that stops it."""

    root_url: str
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"{self.root_url}/v1"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            log.warning("mock server at %s did not stop within 10 s", self.root_url)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_in_thread(app: FastAPI, *, log_level: str = "warning", startup_timeout_s: float = 10.0) -> RunningServer:
    """Start ``app`` on 127.0.0.1 at a free port in a daemon thread and return once it accepts connections."""
    # Binding port 0 ourselves and handing uvicorn the socket avoids the race of
    # "find a free port, then bind it" when tests run in parallel.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"mock-llm:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"mock server on 127.0.0.1:{port} failed to start")
        time.sleep(0.01)
    return RunningServer(root_url=f"http://127.0.0.1:{port}", _server=server, _thread=thread)
