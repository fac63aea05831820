"""The FastAPI app: REST about the world and its agents, the ``/ws`` stream, the browser viewer.

Every request passes :class:`~luotuo_rpg.server.guard.RequestGuard` first (``Host`` and
``Origin`` checks). Watching needs nothing more; every control needs the server's token
(compared in constant time), in the control itself or presented once at the websocket's
handshake (cookie or subprotocol, ``guard.py``). A message a client sends is read with
limits (``inbound.py``): whatever is wrong with it gets an ``error`` message back and the
connection stays open; so does a client sending faster than its rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, field_validator

from luotuo_rpg.server.broadcast import DEFAULT_QUEUE_LIMIT, Subscriber, SubscriberStats
from luotuo_rpg.server.guard import (
    SUBPROTOCOL,
    TOKEN_COOKIE,
    HostPolicy,
    RequestGuard,
    handshake_token,
    token_ok,
    token_problem,
)
from luotuo_rpg.server.hub import SessionHub
from luotuo_rpg.server.inbound import (
    MESSAGE_BURST,
    MESSAGES_PER_S,
    MessageRate,
    parse_client_text,
)
from luotuo_rpg.server.live import LiveSession
from luotuo_rpg.server.protocol import Control, ControlResult, ErrorMessage, Hello
from luotuo_rpg.server.replay_source import ReplayError
from luotuo_rpg.server.replays_folder import ReplayNameError, list_replays
from luotuo_rpg.server.session import Session
from luotuo_rpg.server.views import AgentBrief, AgentDetail, ReplayEntry, WorldInfo
from luotuo_rpg.server.watch import DEFAULT_INTERVAL, WorldWatcher
from luotuo_rpg.shipped import frontend_dir

log = logging.getLogger(__name__)

FRONTEND_DIR = frontend_dir()
MAX_MESSAGE_BYTES = 64 * 1024
TRANSPORT_MAX_BYTES = 1024 * 1024
"""What uvicorn accepts at all (``ws_max_size``): above it the websocket library closes the
connection (code 1009); between ``MAX_MESSAGE_BYTES`` and this, the client gets an ``error``."""


class ServerSettings(BaseModel):
    token: str = Field(description="Needed by every control; watching needs none. At least 16 URL-safe characters.")
    bound_host: str = Field(default="127.0.0.1", description="The address served: a Host header naming it passes.")
    allow_hosts: list[str] = Field(default_factory=list, description="More names the Host header may carry.")
    allow_origins: list[str] = Field(default_factory=list, description="Other origins whose pages may connect.")
    messages_per_s: float = Field(default=MESSAGES_PER_S, gt=0, description="Per connection, sustained.")
    message_burst: int = Field(default=MESSAGE_BURST, ge=1)
    replays_root: Path = Field(default=Path("replays"), description="Where ?replay=NAME looks.")
    speed: float = Field(default=5.0, ge=0, description="Ticks per second at start; 0 = as fast as possible.")
    watch: Path | None = Field(default=None, description="World file to reload on change (live only).")
    watch_interval: float = Field(default=DEFAULT_INTERVAL, gt=0)
    queue_limit: int = Field(
        default=DEFAULT_QUEUE_LIMIT, ge=1, description="Frames queued per viewer before it resyncs."
    )
    max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=256)
    frontend_dir: Path = FRONTEND_DIR

    @field_validator("token")
    @classmethod
    def _token_strong_enough(cls, value: str) -> str:
        problem = token_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class SessionState(BaseModel):
    authorized: bool = Field(description="Whether this browser holds the token cookie (controls allowed).")


class TokenBody(BaseModel):
    token: str = Field(max_length=256)


class ServerStats(BaseModel):
    tick: int
    published: int = Field(description="Frames broadcast by the server's own session since start.")
    viewers: list[SubscriberStats]


def _session_or_http_error(hub: SessionHub, replay: str | None) -> Session:
    try:
        return hub.peek(replay)
    except ReplayNameError as error:
        raise HTTPException(status_code=error.status, detail=error.message) from None
    except ReplayError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None


_NEEDS_TOKEN = "需要口令：控制需要服务器启动时打印的 token (control needs the server's token, printed at start-up)"
_TOO_FAST = "消息太多了，慢一点 (too many messages: this one was dropped)"


async def _pump(websocket: WebSocket, subscriber: Subscriber) -> None:
    """Send this viewer its messages; only this task ever waits on its socket."""
    try:
        while True:
            await websocket.send_text(await subscriber.next_message())
    except (WebSocketDisconnect, RuntimeError, OSError) as error:
        log.debug("viewer %d gone: %r", subscriber.id, error)


def create_app(default: Session, settings: ServerSettings) -> FastAPI:
    hub = SessionHub(default, settings.replays_root, speed=settings.speed, queue_limit=settings.queue_limit)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await default.start()
        watcher = None
        if settings.watch is not None and isinstance(default, LiveSession):
            watcher = WorldWatcher(settings.watch, default, settings.watch_interval)
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                await watcher.stop()
            await hub.close()

    app = FastAPI(title="骆驼RPG", summary="Live generative-agents town: REST + websocket", lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings

    async def control(session: Session, control: Control, presented: bool = False) -> ControlResult:
        allowed = token_ok(control.token, settings.token) if control.token else presented
        if not allowed:
            return ControlResult(action=control.action, ok=False, id=control.id, error=_NEEDS_TOKEN)
        return await session.control(control)

    def cookie_ok(request: Request | WebSocket) -> bool:
        return token_ok(request.cookies.get(TOKEN_COOKIE, ""), settings.token)

    @app.get("/api/session", response_model=SessionState)
    async def session_state(request: Request) -> SessionState:
        return SessionState(authorized=cookie_ok(request))

    @app.post("/api/session", response_model=SessionState)
    async def log_in(body: TokenBody) -> JSONResponse:
        """A token typed into the page becomes the same cookie a ``?token=`` link sets."""
        if not token_ok(body.token, settings.token):
            return JSONResponse({"detail": _NEEDS_TOKEN}, status_code=403)
        response = JSONResponse(SessionState(authorized=True).model_dump())
        response.set_cookie(TOKEN_COOKIE, settings.token, httponly=True, samesite="strict", path="/")
        return response

    @app.get("/api/world", response_model=WorldInfo)
    async def world(replay: str | None = None) -> WorldInfo:
        return _session_or_http_error(hub, replay).world_info()

    @app.get("/api/hello", response_model=Hello)
    async def hello(replay: str | None = None) -> Hello:
        return _session_or_http_error(hub, replay).hello()

    @app.get("/api/agents", response_model=list[AgentBrief])
    async def agents(replay: str | None = None) -> list[AgentBrief]:
        return _session_or_http_error(hub, replay).agents()

    @app.get("/api/agents/{agent_id}", response_model=AgentDetail)
    async def agent(agent_id: int, replay: str | None = None) -> AgentDetail:
        session = _session_or_http_error(hub, replay)
        try:
            return session.agent_detail(agent_id)
        except IndexError:
            raise HTTPException(status_code=404, detail=f"no agent {agent_id}") from None

    @app.get("/api/replays", response_model=list[ReplayEntry])
    async def replays() -> list[ReplayEntry]:
        return list_replays(settings.replays_root)

    @app.get("/api/stats", response_model=ServerStats)
    async def stats() -> ServerStats:
        return ServerStats(
            tick=default.mirror.tick, published=default.broadcaster.published, viewers=default.broadcaster.stats()
        )

    @app.post("/api/control", response_model=ControlResult)
    async def post_control(request: Request, replay: str | None = None) -> JSONResponse:
        # Read with the websocket's limits, not FastAPI's body parser (no depth limit).
        raw = await request.body()
        parsed = parse_client_text(raw.decode("utf-8", errors="replace"), settings.max_message_bytes)
        if isinstance(parsed, ErrorMessage):
            return JSONResponse(parsed.model_dump(mode="json"), status_code=400)
        result = await control(_session_or_http_error(hub, replay), parsed)
        status = 403 if not result.ok and result.error == _NEEDS_TOKEN else 200
        return JSONResponse(result.model_dump(mode="json"), status_code=status)

    @app.websocket("/ws")
    async def stream(websocket: WebSocket, replay: str | None = None) -> None:
        presented, wants_subprotocol = handshake_token(websocket.scope)
        authorized = presented is not None and token_ok(presented, settings.token)
        await websocket.accept(subprotocol=SUBPROTOCOL if wants_subprotocol else None)
        try:
            session = await hub.acquire(replay)
        except (ReplayNameError, ReplayError) as error:
            why = error.message if isinstance(error, ReplayNameError) else str(error)
            await websocket.send_text(ErrorMessage(message=why).model_dump_json())
            await websocket.close(code=1008)
            return
        subscriber = session.broadcaster.subscribe()
        log.info(
            "viewer %d joined %s (%d watching)",
            subscriber.id,
            replay or "the server's session",
            session.broadcaster.viewers,
        )
        sender = asyncio.create_task(_pump(websocket, subscriber), name=f"viewer-{subscriber.id}")
        rate = MessageRate(settings.messages_per_s, settings.message_burst)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if not rate.allow():
                    reply: BaseModel = ErrorMessage(message=_TOO_FAST)
                elif text is None:
                    reply = ErrorMessage(message="只接受文本 JSON 消息 (binary messages are not understood)")
                else:
                    parsed = parse_client_text(text, settings.max_message_bytes)
                    reply = parsed if isinstance(parsed, ErrorMessage) else await control(session, parsed, authorized)
                subscriber.urgent(reply.model_dump_json())
        except (WebSocketDisconnect, RuntimeError) as error:
            log.debug("viewer %d receive ended: %r", subscriber.id, error)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            session.broadcaster.unsubscribe(subscriber)
            await hub.release(session)
            log.info("viewer %d left", subscriber.id)

    app.mount("/", StaticFiles(directory=settings.frontend_dir, html=True), name="frontend")
    policy = HostPolicy(settings.bound_host, settings.allow_hosts, settings.allow_origins)
    app.add_middleware(RequestGuard, policy=policy, token=settings.token)
    return app
