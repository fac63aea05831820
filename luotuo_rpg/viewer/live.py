"""Watching a running server: the websocket client and the playback over it.

The socket lives in a background thread (websockets' blocking client) that
parses messages and queues them; the pygame loop drains the queue once per
drawn frame. Dropped connections are retried every few seconds; each new
connection starts with a fresh hello, which replaces the whole picture.
"""

from __future__ import annotations

import inspect
import json
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Annotated, Union
from urllib.parse import urlsplit

from pydantic import Field, TypeAdapter, ValidationError
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from luotuo_rpg.server.protocol import Control, ControlResult, ErrorMessage, FrameMessage, Hello
from luotuo_rpg.viewer.playback import ViewerError, next_speed
from luotuo_rpg.viewer.state import ViewerState

log = logging.getLogger(__name__)

ServerMessage = Annotated[Union[Hello, FrameMessage, ControlResult, ErrorMessage], Field(discriminator="type")]
_SERVER_MESSAGE: TypeAdapter[Hello | FrameMessage | ControlResult | ErrorMessage] = TypeAdapter(ServerMessage)
_KNOWN_TYPES = {"hello", "frame", "result", "error"}

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


def parse_message(text: str | bytes) -> Hello | FrameMessage | ControlResult | ErrorMessage | None:
    """A server message, or None for one this viewer does not know (newer servers may send more kinds)."""
    try:
        return _SERVER_MESSAGE.validate_json(text)
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
    """One websocket to the server, read in a thread; messages come out of :meth:`poll`."""

    def __init__(self, url: str, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self._queue: queue.Queue[Hello | FrameMessage | ControlResult | ErrorMessage | Disconnected] = queue.Queue()
        self._stop = threading.Event()
        self._connection: ClientConnection | None = None
        self._thread: threading.Thread | None = None

    def _open(self) -> tuple[ClientConnection, Hello]:
        host = urlsplit(self.url).hostname or ""
        options: dict[str, object] = {}
        if _HAS_PROXY_SUPPORT and host in _LOOPBACK:
            options["proxy"] = None  # a proxy from the environment must not swallow a loopback connection
        try:
            connection = connect(self.url, open_timeout=self.connect_timeout, max_size=MAX_MESSAGE_BYTES, **options)
        except InvalidURI:
            raise ViewerError(f"not a websocket URL: {self.url} (expected ws://host:port/ws)") from None
        except (OSError, InvalidHandshake, TimeoutError) as error:
            raise ViewerError(f"cannot connect to {self.url}: {error or type(error).__name__} "
                              "(is `luotuo-rpg serve` running?)") from None
        try:
            first = parse_message(connection.recv(timeout=self.connect_timeout))
        except (TimeoutError, ConnectionClosed) as error:
            connection.close()
            raise ViewerError(f"{self.url} sent no hello: {error or type(error).__name__}") from None
        if isinstance(first, ErrorMessage):
            connection.close()
            raise ViewerError(f"{self.url} refused: {first.message}")
        if not isinstance(first, Hello):
            connection.close()
            raise ViewerError(f"{self.url} did not start with a hello message")
        return connection, first

    def connect(self) -> Hello:
        """Connect and read the hello (errors raise :class:`ViewerError`), then read on in a thread."""
        self._connection, hello = self._open()
        self._thread = threading.Thread(target=self._read_forever, name="luotuo-viewer-ws", daemon=True)
        self._thread.start()
        return hello

    def _read_forever(self) -> None:
        while not self._stop.is_set():
            connection = self._connection
            if connection is None:
                if self._stop.wait(RECONNECT_SECONDS):
                    return
                try:
                    self._connection, hello = self._open()
                except ViewerError as error:
                    log.debug("reconnect failed: %s", error)
                    continue
                log.info("reconnected to %s", self.url)
                self._queue.put(hello)
                continue
            try:
                # A timeout, so a stop request is noticed within half a second.
                message = parse_message(connection.recv(timeout=0.5))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                self._connection = None
                if not self._stop.is_set():
                    self._queue.put(Disconnected(str(closed.rcvd.reason if closed.rcvd else "closed") or "closed"))
                continue
            if message is not None:
                self._queue.put(message)

    def poll(self) -> list[Hello | FrameMessage | ControlResult | ErrorMessage | Disconnected]:
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
    """

    def __init__(self, client: LiveClient, hello: Hello, token: str | None = None) -> None:
        self.client = client
        self.token = token
        self.notice = ""
        self.connected = True
        self._take_hello(hello)

    def _take_hello(self, hello: Hello) -> None:
        self.state = ViewerState(hello)
        self.paused = hello.paused
        self.speed = hello.speed

    def update(self, seconds: float) -> None:
        for message in self.client.poll():
            if isinstance(message, FrameMessage):
                self.state.apply(message.frame)
            elif isinstance(message, Hello):
                self.connected = True
                self._take_hello(message)
                self.notice = "已重新连接 reconnected"
            elif isinstance(message, ControlResult):
                if not message.ok:
                    self.notice = f"{message.action}: {message.error or '失败 failed'}"
                elif message.answer:
                    self.notice = message.answer
            elif isinstance(message, ErrorMessage):
                self.notice = f"服务器 server: {message.message}"
            elif isinstance(message, Disconnected):
                self.connected = False
                self.notice = f"连接断开 disconnected ({message.reason}); 重连中 retrying…"

    def _control(self, action: str, value: float | None = None) -> bool:
        if not self.token:
            self.notice = "控制服务器需要 --token (controls need the server's --token)"
            return False
        sent = self.client.send(Control(token=self.token, action=action, value=value))  # type: ignore[arg-type]
        if not sent:
            self.notice = "未连接 not connected"
        return sent

    def toggle_pause(self) -> None:
        if self._control("resume" if self.paused else "pause"):
            self.paused = not self.paused

    def step(self, ticks: int) -> None:
        if ticks > 0:
            for _ in range(ticks):
                self._control("step")
        elif self.state.hello.replay is not None:
            # A server playing a replay can seek; a live simulation cannot go back.
            self._control("seek", float(max(0, self.state.tick + ticks)))
        else:
            self.notice = "实时模拟不能后退 a live run cannot step back"

    def change_speed(self, direction: int) -> None:
        speed = next_speed(self.speed, direction)
        if self._control("speed", speed):
            self.speed = speed
            self.notice = "速度 speed " + ("最快 fastest" if speed <= 0 else f"{speed:g} tick/s")

    def status(self) -> str:
        if not self.connected:
            return "✕ 连接断开 disconnected"
        mode = "‖ 暂停 paused" if self.paused else "● 实时 live"
        speed = "最快 fastest" if self.speed <= 0 else f"{self.speed:g} tick/s"
        return f"{mode} · {speed}"

    def close(self) -> None:
        self.client.close()
