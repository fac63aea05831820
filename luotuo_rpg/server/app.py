"""The FastAPI app: REST about the world and its agents, the ``/ws`` stream, the browser viewer.

Watching needs nothing; every control needs the server's token (compared in
constant time). A message a client sends is checked before anything else: a
text over ``max_message_bytes``, malformed JSON or an invalid control gets an
``error`` message back and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError

from luotuo_rpg.server.broadcast import DEFAULT_QUEUE_LIMIT, Subscriber, SubscriberStats
from luotuo_rpg.server.hub import SessionHub
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
    token: str = Field(min_length=1, description="Needed by every control; watching needs none.")
    replays_root: Path = Field(default=Path("replays"), description="Where ?replay=NAME looks.")
    speed: float = Field(default=5.0, ge=0, description="Ticks per second at start; 0 = as fast as possible.")
    watch: Path | None = Field(default=None, description="World file to reload on change (live only).")
    watch_interval: float = Field(default=DEFAULT_INTERVAL, gt=0)
    queue_limit: int = Field(default=DEFAULT_QUEUE_LIMIT, ge=1, description="Frames queued per viewer before it resyncs.")
    max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=256)
    frontend_dir: Path = FRONTEND_DIR


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


def _token_ok(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


_NEEDS_TOKEN = "需要口令：控制需要服务器启动时打印的 token (control needs the server's token, printed at start-up)"


def parse_client_text(text: str, limit: int) -> Control | ErrorMessage:
    """A client's text message as a control, or the error to send back."""
    if len(text) > limit or len(text.encode("utf-8")) > limit:
        return ErrorMessage(message=f"消息太大 (message of {len(text.encode('utf-8'))} bytes is over the {limit}-byte limit)")
    try:
        data = json.loads(text)
    except ValueError as error:
        return ErrorMessage(message=f"不是合法的 JSON (malformed JSON: {error})")
    if not isinstance(data, dict) or data.get("type", "control") != "control":
        return ErrorMessage(message='只接受 control 消息 (expected {"type": "control", ...})')
    try:
        return Control.model_validate(data)
    except ValidationError as error:
        issues = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return ErrorMessage(message="无效的控制消息 (invalid control)", issues=issues)


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

    async def control(session: Session, control: Control) -> ControlResult:
        if not _token_ok(control.token, settings.token):
            return ControlResult(action=control.action, ok=False, id=control.id, error=_NEEDS_TOKEN)
        return await session.control(control)

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
        return ServerStats(tick=default.mirror.tick, published=default.broadcaster.published, viewers=default.broadcaster.stats())

    @app.post("/api/control", response_model=ControlResult)
    async def post_control(body: Control, replay: str | None = None) -> JSONResponse:
        result = await control(_session_or_http_error(hub, replay), body)
        status = 403 if not result.ok and result.error == _NEEDS_TOKEN else 200
        return JSONResponse(result.model_dump(mode="json"), status_code=status)

    @app.websocket("/ws")
    async def stream(websocket: WebSocket, replay: str | None = None) -> None:
        await websocket.accept()
        try:
            session = await hub.acquire(replay)
        except (ReplayNameError, ReplayError) as error:
            why = error.message if isinstance(error, ReplayNameError) else str(error)
            await websocket.send_text(ErrorMessage(message=why).model_dump_json())
            await websocket.close(code=1008)
            return
        subscriber = session.broadcaster.subscribe()
        log.info("viewer %d joined %s (%d watching)", subscriber.id, replay or "the server's session", session.broadcaster.viewers)
        sender = asyncio.create_task(_pump(websocket, subscriber), name=f"viewer-{subscriber.id}")
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    reply: BaseModel = ErrorMessage(message="只接受文本 JSON 消息 (binary messages are not understood)")
                else:
                    parsed = parse_client_text(text, settings.max_message_bytes)
                    reply = parsed if isinstance(parsed, ErrorMessage) else await control(session, parsed)
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
    return app
