"""Hostile clients against the real ``luotuo-rpg serve`` process: every bad message gets an error
and the connection stays open; other sites and rebound host names are refused; the token
never has to travel in a websocket URL and is refused when short."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from luotuo_rpg.server.inbound import MAX_DEPTH
from luotuo_rpg.server.process import ServeProcess
from luotuo_rpg.server.protocol import ControlResult, ErrorMessage, parse_server_message

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "worlds" / "tiny.yaml"
TOKEN = "hostile-test-token-0123"
RECV_TIMEOUT = 15


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess(
        str(TINY),
        "--paused",
        "--speed",
        "0",
        "--allow-origin",
        "https://friend.example",
        "--allow-host",
        "town.lan",
        token=TOKEN,
    ) as process:
        yield process


async def _reply(ws, kinds=(ControlResult, ErrorMessage)):
    while True:
        message = parse_server_message(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
        if isinstance(message, kinds):
            return message


async def _still_open(ws) -> None:
    """A valid control after the bad ones is answered on the same connection."""
    await ws.send(json.dumps({"type": "control", "action": "pause", "token": TOKEN, "id": "ok?"}))
    result = await _reply(ws, (ControlResult,))
    assert result.ok and result.id == "ok?"


HOSTILE = {
    "nested brackets": "[" * 5000,
    "nested objects": '{"a":' * 3000 + "1" + "}" * 3000,
    "nested inside a control": json.dumps({"type": "control", "action": "pause", "token": TOKEN, "id": None}).replace(
        "null", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    ),
    "NaN": '{"type": "control", "action": "speed", "value": NaN, "token": "%s"}' % TOKEN,
    "Infinity": '{"type": "control", "action": "speed", "value": -Infinity, "token": "%s"}' % TOKEN,
    "a float past the largest": '{"type": "control", "action": "speed", "value": 1e999, "token": "%s"}' % TOKEN,
    "a huge float": '{"type": "control", "action": "speed", "value": 1e300, "token": "%s"}' % TOKEN,
    "a 5000-digit integer": '{"type": "control", "action": "interview", "agent": %s, "token": "%s"}'
    % ("9" * 5000, TOKEN),
    "a long where": json.dumps(
        {"type": "control", "action": "inject", "what": "起火了", "where": "客" * 5000, "token": TOKEN}
    ),
    "a long token": json.dumps({"type": "control", "action": "pause", "token": "x" * 5000}),
    "a long id": json.dumps({"type": "control", "action": "pause", "token": TOKEN, "id": "x" * 5000}),
    "a long question": json.dumps(
        {"type": "control", "action": "interview", "agent": 0, "question": "问" * 5000, "token": TOKEN}
    ),
    "a long event": json.dumps({"type": "control", "action": "inject", "what": "火" * 5000, "token": TOKEN}),
    "over the size limit": json.dumps({"type": "control", "action": "pause", "pad": "x" * 70_000}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_a_hostile_message_gets_an_error_and_the_connection_stays_open(server, name):
    async with websockets.connect(server.ws, max_size=None) as ws:
        await ws.send(HOSTILE[name])
        reply = await _reply(ws)
        assert isinstance(reply, ErrorMessage) or (isinstance(reply, ControlResult) and not reply.ok), reply
        await _still_open(ws)
    assert server.alive()


async def test_a_client_sending_too_fast_is_told_so_and_kept(server):
    async with websockets.connect(server.ws) as ws:
        # 60 at once: fewer than the 64 replies a connection may have waiting, more than the burst of 40.
        await asyncio.gather(
            *(ws.send(json.dumps({"type": "control", "action": "pause", "token": "wrong" * 4})) for _ in range(60))
        )
        replies = [await _reply(ws) for _ in range(60)]
        too_fast = [r for r in replies if isinstance(r, ErrorMessage) and "too many" in r.message]
        assert 5 <= len(too_fast) <= 20, len(too_fast)  # the burst passed, and what the rate refilled meanwhile
        await asyncio.sleep(1.0)
        await _still_open(ws)


def _raw_handshake(server: ServeProcess, headers: dict[str, str]) -> str:
    """The status line of a websocket handshake sent with exactly these headers."""
    host, port = server.base.removeprefix("http://").rsplit(":", 1)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = {
        "Host": f"{host}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    with socket.create_connection((host, int(port)), timeout=RECV_TIMEOUT) as sock:
        request = "GET /ws HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items()) + "\r\n"
        sock.sendall(request.encode())
        head = b""
        while b"\r\n" not in head:
            head += sock.recv(1)
    return head.decode().split("\r\n")[0]


def test_a_page_on_another_site_cannot_watch(server):
    assert " 403 " in _raw_handshake(server, {"Origin": "https://evil.example"})
    assert " 403 " in _raw_handshake(server, {"Origin": "null"})
    assert " 101 " in _raw_handshake(server, {"Origin": server.base})
    assert " 101 " in _raw_handshake(server, {"Origin": "https://friend.example"})  # --allow-origin
    assert " 101 " in _raw_handshake(server, {})  # not a browser: no Origin
    for path in ("/api/agents", "/api/agents/0", "/api/world", "/"):
        refused = httpx.get(f"{server.base}{path}", headers={"Origin": "https://evil.example"}, timeout=10)
        assert refused.status_code == 403, path
    assert httpx.get(f"{server.base}/api/agents/0", headers={"Origin": server.base}, timeout=10).status_code == 200


def test_a_rebound_host_name_is_refused(server):
    port = server.base.rsplit(":", 1)[1]
    for path in ("/api/agents/0", "/api/world", "/"):
        refused = httpx.get(f"{server.base}{path}", headers={"Host": f"evil.example:{port}"}, timeout=10)
        assert refused.status_code == 400, path
    assert " 400 " in _raw_handshake(server, {"Host": f"evil.example:{port}"})
    for name in ("localhost", "127.0.0.1", "town.lan"):  # the last one: --allow-host
        assert httpx.get(f"{server.base}/api/world", headers={"Host": f"{name}:{port}"}, timeout=10).status_code == 200


def test_the_token_in_a_page_url_becomes_a_same_site_http_only_cookie(server):
    page = httpx.get(f"{server.base}/?token={TOKEN}", timeout=10)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"luotuo_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "set-cookie" not in httpx.get(f"{server.base}/?token=wrong-token-0123456789", timeout=10).headers


async def test_a_websocket_presents_the_token_at_its_handshake_never_in_its_url(server):
    async with websockets.connect(server.ws, additional_headers={"Cookie": f"luotuo_token={TOKEN}"}) as ws:
        await ws.send(json.dumps({"type": "control", "action": "pause", "id": "cookie"}))
        assert (await _reply(ws, (ControlResult,))).ok
    async with websockets.connect(server.ws, subprotocols=["luotuo", f"luotuo-token.{TOKEN}"]) as ws:
        assert ws.subprotocol == "luotuo"  # the token is not echoed back
        await ws.send(json.dumps({"type": "control", "action": "pause", "id": "subprotocol"}))
        assert (await _reply(ws, (ControlResult,))).ok
    async with websockets.connect(server.ws, subprotocols=["luotuo", "luotuo-token.wrong-token-01234567"]) as ws:
        await ws.send(json.dumps({"type": "control", "action": "pause", "id": "wrong"}))
        assert not (await _reply(ws, (ControlResult,))).ok
    async with websockets.connect(f"{server.ws}?token={TOKEN}") as ws:  # a URL token does not count
        await ws.send(json.dumps({"type": "control", "action": "pause", "id": "url"}))
        assert not (await _reply(ws, (ControlResult,))).ok


def test_rest_control_reads_with_the_same_limits(server):
    nested = httpx.post(f"{server.base}/api/control", content="[" * 5000, timeout=10)
    assert nested.status_code == 400 and "nested" in nested.json()["message"]
    nan = httpx.post(
        f"{server.base}/api/control", timeout=10, content='{"action": "speed", "value": NaN, "token": "%s"}' % TOKEN
    )
    assert nan.status_code == 400
    ok = httpx.post(f"{server.base}/api/control", json={"action": "pause", "token": TOKEN}, timeout=10)
    assert ok.status_code == 200 and ok.json()["ok"]


@pytest.mark.parametrize("token", ["t", "fifteen-chars-x", "has spaces in it, sixteen+", "ünïcödé-token-0123"])
def test_a_weak_or_unusable_token_is_refused_at_start(tiny_world, token):
    run = subprocess.run(
        [sys.executable, "-m", "luotuo_rpg.cli", "serve", str(tiny_world), "--port", "0", "--token", token],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "--token" in run.stderr, run.stderr
