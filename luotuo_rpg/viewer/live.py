"""Watching a running server: the websocket client and the playback over it.

The socket lives in a background thread (websockets' blocking client) that
parses messages and queues them; the pygame loop drains the queue once per
drawn frame. Dropped connections are retried every few seconds. A hello may
come at any time (the server resyncs a viewer that fell behind, seeks a
replay, reloads the world, or we reconnected): it is a keyframe of "now".
"""

from __future__ import annotations

import inspect
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from luotuo_rpg.phrases import phrase
from luotuo_rpg.server.protocol import (
    Control,
    ControlResult,
    ErrorMessage,
    FrameMessage,
    Hello,
    Status,
    parse_server_message,
)
from luotuo_rpg.viewer.playback import ViewerError, next_speed
from luotuo_rpg.viewer.state import ViewerState

log = logging.getLogger(__name__)

Incoming = Hello | FrameMessage | ControlResult | ErrorMessage | Status
_KNOWN_TYPES = {"hello", "frame", "result", "error", "status"}

CONNECT_TIMEOUT = 5.0
RECONNECT_SECONDS = 2.0
MAX_MESSAGE_BYTES = 16 * 2**20
"""A hello carries the whole map and every persona; big towns pass websockets' 1 MiB default."""
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_HAS_PROXY_SUPPORT = "proxy" in inspect.signature(connect).parameters
"""websockets ≥ 15 honours proxy environment variables; older versions never use a proxy."""


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Reconnected:
    """Queued just before the hello of a new connection after a drop."""


def parse_message(text: str | bytes) -> Incoming | None:
    """A server message, or None for one this viewer does not know (newer servers may send more kinds)."""
    try:
        return parse_server_message(text)
    except ValidationError as error:
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            kind = None
        if kind in _KNOWN_TYPES:
            log.warning("bad %r message from the server: %s", kind, error.errors()[0]["msg"])
        else:
            log.debug("ignoring a message of type %r", kind)
        return None


class LiveClient:
    """One websocket to the server, read in a thread; messages come out of :meth:`poll`.

    The thread owns the connection from dial to close (``with connect(...)``),
    including the first one, whose hello or error :meth:`connect` waits for.
    """

    def __init__(self, url: str, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self._queue: queue.Queue[Incoming | Disconnected | Reconnected] = queue.Queue()
        self._first: queue.Queue[Hello | ViewerError] = queue.Queue()
        self._stop = threading.Event()
        self._connection: ClientConnection | None = None
        self._thread: threading.Thread | None = None

    def connect(self) -> Hello:
        """Connect and return the hello (errors raise :class:`ViewerError`); the thread reads on."""
        self._thread = threading.Thread(target=self._run, name="luotuo-viewer-ws", daemon=True)
        self._thread.start()
        try:
            outcome = self._first.get(timeout=2 * self.connect_timeout + 1)
        except queue.Empty:
            outcome = ViewerError(f"{self.url} did not answer within {2 * self.connect_timeout + 1:g} s")
        if isinstance(outcome, ViewerError):
            self.close()
            raise outcome
        return outcome

    def _dial(self) -> ClientConnection:
        host = urlsplit(self.url).hostname or ""
        options: dict[str, Any] = {}
        if _HAS_PROXY_SUPPORT and host in _LOOPBACK:
            options["proxy"] = None  # a proxy from the environment must not swallow a loopback connection
        try:
            return connect(self.url, open_timeout=self.connect_timeout, max_size=MAX_MESSAGE_BYTES, **options)
        except InvalidURI:
            raise ViewerError(f"not a websocket URL: {self.url} (expected ws://host:port/ws)") from None
        except (OSError, InvalidHandshake, TimeoutError) as error:
            raise ViewerError(
                f"cannot connect to {self.url}: {error or type(error).__name__} (is `luotuo-rpg serve` running?)"
            ) from None

    def _read_hello(self, connection: ClientConnection) -> Hello:
        """Wait for the hello; a status or result queued before it is of no use without it."""
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                message = parse_message(connection.recv(timeout=max(0.0, deadline - time.monotonic())))
            except (TimeoutError, ConnectionClosed) as error:
                raise ViewerError(f"{self.url} sent no hello: {error or type(error).__name__}") from None
            if isinstance(message, Hello):
                return message
            if isinstance(message, ErrorMessage):
                raise ViewerError(f"{self.url} refused: {message.message}")

    def _run(self) -> None:
        announced = False
        while not self._stop.is_set():
            try:
                with self._dial() as connection:
                    hello = self._read_hello(connection)
                    self._connection = connection
                    if announced:
                        log.info("reconnected to %s", self.url)
                        self._queue.put(Reconnected())
                        self._queue.put(hello)
                    else:
                        self._first.put(hello)
                        announced = True
                    self._read(connection)
            except ViewerError as error:
                if not announced:
                    self._first.put(error)
                    return
                log.debug("reconnect failed: %s", error)
            finally:
                self._connection = None
            if self._stop.wait(RECONNECT_SECONDS):
                return

    def _read(self, connection: ClientConnection) -> None:
        """Queue messages until the connection closes or :meth:`close` is called."""
        while not self._stop.is_set():
            try:
                # A timeout, so a stop request is noticed within half a second.
                message = parse_message(connection.recv(timeout=0.5))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                if not self._stop.is_set():
                    reason = closed.rcvd.reason if closed.rcvd is not None else ""
                    self._queue.put(Disconnected(reason or "closed"))
                return
            if message is not None:
                self._queue.put(message)

    def poll(self) -> list[Incoming | Disconnected | Reconnected]:
        """Everything received since the last call, in order."""
        messages = []
        while True:
            try:
                messages.append(self._queue.get_nowait())
            except queue.Empty:
                return messages

    def send(self, control: Control) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            connection.send(control.model_dump_json(exclude_none=True))
        except ConnectionClosed:
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None:
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


class LivePlayer:
    """A :class:`~luotuo_rpg.viewer.playback.Playback` over a server: keys become control messages.

    Controls need the server's token; without ``token`` the keys only say so.
    Pause and speed shown are the server's, from ``hello`` and ``status``.
    """

    def __init__(self, client: LiveClient, hello: Hello, token: str | None = None) -> None:
        self.client = client
        self.token = token
        self.notice = ""
        self.connected = True
        self.ended = False
        self.state = ViewerState(hello)
        self._take_settings(hello)

    def _take_settings(self, hello: Hello) -> None:
        self.paused = hello.paused
        self.speed = hello.speed
        if hello.errors:
            self.notice = phrase(hello.language, "viewer_world_errors", error=hello.errors[0])

    def _say(self, key: str, **values: object) -> str:
        return phrase(self.state.hello.language, key, **values)

    def update(self, seconds: float) -> None:
        for message in self.client.poll():
            if isinstance(message, FrameMessage):
                self.state.apply(message.frame)
            elif isinstance(message, Hello):
                self.state.resync(message)
                self._take_settings(message)
                self.ended = False
            elif isinstance(message, Status):
                self.paused, self.speed, self.ended = message.paused, message.speed, message.ended
            elif isinstance(message, ControlResult):
                if not message.ok:
                    self.notice = f"{message.action}: {message.error or self._say('viewer_failed')}"
                elif message.answer:
                    self.notice = message.answer
            elif isinstance(message, ErrorMessage):
                detail = f" ({message.issues[0]})" if message.issues else ""
                self.notice = self._say("viewer_server", message=message.message, detail=detail)
            elif isinstance(message, Disconnected):
                self.connected = False
                self.notice = self._say("viewer_disconnected", reason=message.reason)
            elif isinstance(message, Reconnected):
                self.connected = True
                self.notice = self._say("viewer_reconnected")

    def _control(self, action: str, value: float | None = None) -> bool:
        if not self.token:
            self.notice = self._say("viewer_needs_token")
            return False
        sent = self.client.send(Control(token=self.token, action=action, value=value))  # type: ignore[arg-type]
        if not sent:
            self.notice = self._say("viewer_not_connected")
        return sent

    def toggle_pause(self) -> None:
        # The server answers with a status message, which sets ``paused``.
        self._control("resume" if self.paused else "pause")

    def step(self, ticks: int) -> None:
        if ticks > 0:
            # The server steps only while paused, one tick per request, like a replay's → key.
            if not self.paused and not self._control("pause"):
                return
            self._control("step")
        elif self.state.hello.replay is not None:
            # A server playing a replay can seek (it answers with a fresh hello); a live run cannot go back.
            if not self.paused and not self._control("pause"):
                return
            self._control("seek", float(max(0, self.state.tick + ticks)))
        else:
            self.notice = self._say("viewer_no_going_back")

    def change_speed(self, direction: int) -> None:
        speed = next_speed(self.speed, direction)
        if self._control("speed", speed):
            self.notice = self._say("viewer_speed", speed=self._speed(speed))

    def _speed(self, speed: float) -> str:
        return self._say("viewer_fastest") if speed <= 0 else self._say("viewer_speed_value", speed=f"{speed:g}")

    def status(self) -> str:
        if not self.connected:
            return self._say("viewer_gone")
        where = self._say("viewer_replay" if self.state.hello.replay is not None else "viewer_live")
        if self.ended:
            mode = self._say("viewer_ended")
        elif self.paused:
            mode = self._say("viewer_paused")
        else:
            mode = "▶ " + self._speed(self.speed)
        return f"{mode} · {where} (server)"

    def close(self) -> None:
        self.client.close()
