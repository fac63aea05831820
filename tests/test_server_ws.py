"""The live server on loopback: fan-out, back-pressure, controls and their token,
bad input, replay names, REST shapes, replay seeking and ``serve --watch``.

Every test talks to a real ``luotuo-rpg serve`` child process over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from pydantic import TypeAdapter

from luotuo_rpg.server.app import ServerStats
from luotuo_rpg.server.process import ServeProcess
from luotuo_rpg.server.protocol import (
    ControlResult,
    ErrorMessage,
    FrameMessage,
    Hello,
    Status,
    parse_server_message,
)
from luotuo_rpg.server.views import AgentBrief, AgentDetail, ReplayEntry, WorldInfo
from luotuo_rpg.sim.files import AgentFrame, Frame
from luotuo_rpg.sim.runner import run_headless

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "worlds" / "tiny.yaml"
TOKEN = "test-token-0123456789"
RECV_TIMEOUT = 15.0

Message = Hello | FrameMessage | ControlResult | ErrorMessage | Status


# --- helpers -------------------------------------------------------------------------------
async def recv(ws: websockets.ClientConnection, timeout: float = RECV_TIMEOUT) -> Message:
    return parse_server_message(await asyncio.wait_for(ws.recv(), timeout))


async def next_of(ws: websockets.ClientConnection, kind: type, timeout: float = RECV_TIMEOUT):
    """Skip messages until one of ``kind`` arrives."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await recv(ws, max(0.1, deadline - loop.time()))
        if isinstance(message, kind):
            return message


async def control(ws: websockets.ClientConnection, token: str | None = TOKEN, **fields) -> ControlResult:
    body = {"type": "control", **fields}
    if token is not None:
        body["token"] = token
    await ws.send(json.dumps(body, ensure_ascii=False))
    return await next_of(ws, ControlResult)


async def get(server: ServeProcess, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        return await client.get(path, params=params)


async def stats(server: ServeProcess) -> ServerStats:
    return ServerStats.model_validate((await get(server, "/api/stats")).json())


def stalled_viewer(server: ServeProcess) -> socket.socket:
    """A websocket client that completes the handshake and then never reads again."""
    host, port = server.base.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0]
    return sock


def reconstruct(frames_path: Path, tick: int) -> dict[int, AgentFrame]:
    """The state at ``tick`` from frames.jsonl, the slow obvious way: every frame from the start."""
    agents: dict[int, AgentFrame] = {}
    for line in frames_path.read_text(encoding="utf-8").splitlines():
        frame = Frame.model_validate_json(line)
        if frame.tick > tick:
            break
        if frame.key:
            agents = {}
        for agent_id, delta in frame.agents.items():
            current = agents.get(agent_id, AgentFrame())
            agents[agent_id] = current.model_copy(update=delta.model_dump(exclude_none=True))
    return agents


@pytest.fixture(scope="module")
def world_copy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("world") / "tiny.yaml"
    shutil.copy(TINY, path)
    return path


@pytest.fixture(scope="module")
def replays_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("replays")
    run_headless(TINY, hours=1, seed=0, out=root / "run1")  # 360 ticks, keyframes every 60
    outside = tmp_path_factory.mktemp("outside")
    shutil.copytree(root / "run1", outside / "secret")
    (root / "escape").symlink_to(outside / "secret", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def live(world_copy, replays_root) -> Iterator[ServeProcess]:
    """One paused live server shared by the tests that only need to talk to it."""
    with ServeProcess(
        str(world_copy), "--paused", "--speed", "0", "--replays-root", str(replays_root), token=TOKEN
    ) as server:
        yield server


# --- fan-out and back-pressure ---------------------------------------------------------------
async def test_fifty_viewers_each_receive_every_frame_in_order(world_copy):
    ticks = 60
    with ServeProcess(str(world_copy), "--paused", "--speed", "40", token=TOKEN) as server:
        viewers = [await websockets.connect(server.ws, max_size=None) for _ in range(50)]
        try:
            hellos = [await next_of(ws, Hello) for ws in viewers]
            start = {h.state.tick for h in hellos}
            assert len(start) == 1, "paused: every viewer must start from the same tick"
            first = start.pop()
            assert (await control(viewers[0], action="resume")).ok

            async def collect(ws) -> list[int]:
                seen: list[int] = []
                while len(seen) < ticks:
                    message = await recv(ws)
                    assert not isinstance(message, Hello), "a viewer that keeps up must never be resynced"
                    if isinstance(message, FrameMessage):
                        seen.append(message.frame.tick)
                return seen

            received = await asyncio.gather(*(collect(ws) for ws in viewers))
        finally:
            await asyncio.gather(*(ws.close() for ws in viewers))
    for seen in received:
        assert seen == list(range(first + 1, first + 1 + ticks))


async def test_stalled_viewer_does_not_lower_ticks_done(world_copy):
    frames_per_phase = 400

    async def phase(server: ServeProcess, ws) -> int:
        """Run until this viewer got ``frames_per_phase`` frames; return the ticks the town did meanwhile."""
        before = (await stats(server)).tick
        assert (await control(ws, action="resume")).ok
        got = 0
        last = None
        while got < frames_per_phase:
            message = await recv(ws)
            if isinstance(message, Hello):
                last = message.state.tick  # resynced: the frames continue from the hello
            elif isinstance(message, FrameMessage):
                if last is not None:
                    assert message.frame.tick == last + 1, "frames after a hello must be consecutive"
                last = message.frame.tick
                got += 1
        assert (await control(ws, action="pause")).ok
        await asyncio.sleep(0.2)
        return (await stats(server)).tick - before

    with ServeProcess(str(world_copy), "--paused", "--speed", "500", token=TOKEN) as server:
        async with websockets.connect(server.ws, max_size=None) as ws:
            await next_of(ws, Hello)
            alone = await phase(server, ws)

            stalled = stalled_viewer(server)
            try:
                # Let the stalled viewer's socket and queue fill up, as fast as the town goes, before counting.
                assert (await control(ws, action="speed", value=0)).ok
                assert (await control(ws, action="resume")).ok
                loop = asyncio.get_running_loop()
                for _ in range(300):
                    if any(v.resyncs for v in (await stats(server)).viewers):
                        break
                    drain_until = loop.time() + 0.1  # keep our own viewer drained meanwhile
                    while loop.time() < drain_until:
                        try:
                            await asyncio.wait_for(ws.recv(), 0.02)
                        except TimeoutError:
                            break
                else:
                    pytest.fail("the stalled viewer never overflowed its queue")
                assert (await control(ws, action="pause")).ok
                assert (await control(ws, action="speed", value=500)).ok
                with_stalled = await phase(server, ws)
                stalled_stats = max((await stats(server)).viewers, key=lambda v: v.resyncs)
            finally:
                stalled.close()
    assert alone >= frames_per_phase
    assert with_stalled >= frames_per_phase
    assert with_stalled >= alone - 5, f"{with_stalled} ticks with a stalled viewer vs {alone} without"
    assert stalled_stats.resyncs >= 1 and stalled_stats.dropped > 0


async def test_reconnecting_viewer_resyncs_from_hello(live):
    async with websockets.connect(live.ws) as ws:
        await next_of(ws, Hello)
        assert (await control(ws, action="step")).ok
        frame = await next_of(ws, FrameMessage)
    async with websockets.connect(live.ws) as again:
        hello = await next_of(again, Hello)
    assert hello.state.key and hello.state.tick == frame.frame.tick
    assert len(hello.state.agents) == len(hello.personas)


# --- controls ---------------------------------------------------------------------------------
async def test_control_without_token_is_refused_and_with_it_accepted(live):
    async with websockets.connect(live.ws) as ws:
        hello = await next_of(ws, Hello)
        assert hello.paused
        refused = await control(ws, token=None, action="step")
        assert not refused.ok and "token" in (refused.error or "")
        wrong = await control(ws, token="guess", action="step")
        assert not wrong.ok
        tick = hello.state.tick
        accepted = await control(ws, action="step", id="s1")
        assert accepted.ok and accepted.id == "s1"
        frame = await next_of(ws, FrameMessage)
        assert frame.frame.tick > tick
    async with httpx.AsyncClient(base_url=live.base, timeout=10) as client:
        response = await client.post("/api/control", json={"action": "pause"})
        assert response.status_code == 403 and ControlResult.model_validate(response.json()).ok is False
        response = await client.post("/api/control", json={"action": "pause", "token": TOKEN})
        assert response.status_code == 200 and ControlResult.model_validate(response.json()).ok


async def test_pause_resume_speed_send_status_to_every_viewer(world_copy):
    with ServeProcess(str(world_copy), "--paused", "--speed", "20", token=TOKEN) as server:
        async with websockets.connect(server.ws) as ws, websockets.connect(server.ws) as other:
            await next_of(ws, Hello)
            await next_of(other, Hello)
            assert (await control(ws, action="speed", value=50)).ok
            assert (await next_of(other, Status)).speed == 50
            assert (await control(ws, action="resume")).ok
            status = await next_of(other, Status)
            assert not status.paused
            await next_of(other, FrameMessage)
            assert (await control(ws, action="step")).error, "step needs a pause"
            assert (await control(ws, action="pause")).ok
            assert (await next_of(other, Status)).paused
            await asyncio.sleep(0.3)
            tick = (await stats(server)).tick
            await asyncio.sleep(0.5)
            assert (await stats(server)).tick == tick, "paused: the clock must stand still"


async def test_interview_and_inject_work_live(live):
    async with websockets.connect(live.ws) as ws:
        hello = await next_of(ws, Hello)
        answer = await control(ws, action="interview", agent=0, question="你今天过得怎么样？", id="q1")
        assert answer.ok and answer.id == "q1" and answer.answer
        assert re.search(r"[\u4e00-\u9fff]", answer.answer), "the offline mind answers in Chinese"
        bad = await control(ws, action="interview", agent=99, question="在吗？")
        assert not bad.ok
        place = hello.places[0].address
        assert (await control(ws, action="inject", what="镇上来了个说书先生", where=place, minutes=30)).ok
        events = []
        for _ in range(2):  # it starts on the next tick the engine has not begun yet
            assert (await control(ws, action="step")).ok
            events += (await next_of(ws, FrameMessage)).frame.events
        assert any(e.type == "event_start" and e.text == "镇上来了个说书先生" for e in events)
        told = [e for e in events if e.type == "interview"]
        assert [(e.agent, e.question, e.text) for e in told] == [(0, "你今天过得怎么样？", answer.answer)], (
            "the frame after a live interview records it, so a recording's replay shows it"
        )
        nowhere = await control(ws, action="inject", what="地震", where="没有/这个地方")
        assert not nowhere.ok and "unknown place" in (nowhere.error or "")
        seek = await control(ws, action="seek", value=5)
        assert not seek.ok, "seek is for replays"


async def test_bad_messages_get_an_error_and_the_connection_stays_up(live):
    async with websockets.connect(live.ws, max_size=None) as ws:
        await next_of(ws, Hello)
        await ws.send("{not json")
        assert "JSON" in (await next_of(ws, ErrorMessage)).message
        await ws.send(json.dumps({"type": "control", "action": "pause", "token": TOKEN, "question": "x" * 70_000}))
        assert "limit" in (await next_of(ws, ErrorMessage)).message
        await ws.send(b"\x00\x01binary")
        await next_of(ws, ErrorMessage)
        await ws.send(json.dumps({"type": "control", "action": "fly", "token": TOKEN}))
        invalid = await next_of(ws, ErrorMessage)
        assert invalid.issues and "action" in invalid.issues[0]
        await ws.send(json.dumps([1, 2, 3]))
        await next_of(ws, ErrorMessage)
        assert (await control(ws, action="pause")).ok, "the connection must survive all of the above"


# --- replays ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../run1", "..", "/etc", "a/b", "..\\run1", "run1/../../x"])
def test_replay_names_outside_the_folder_are_refused(live, name):
    response = httpx.get(f"{live.base}/api/world", params={"replay": name}, timeout=10)
    assert response.status_code == 400, response.text


def test_replay_symlink_out_of_the_folder_is_refused(live):
    assert httpx.get(f"{live.base}/api/world", params={"replay": "escape"}, timeout=10).status_code == 403
    assert httpx.get(f"{live.base}/api/world", params={"replay": "missing"}, timeout=10).status_code == 404
    names = [
        e.name for e in TypeAdapter(list[ReplayEntry]).validate_python(httpx.get(f"{live.base}/api/replays").json())
    ]
    assert names == ["run1"], "a symlink out of the folder is not listed either"


async def test_replay_name_refused_on_the_websocket_too(live):
    async with websockets.connect(f"{live.ws}?replay=..%2F..%2Fetc") as ws:
        error = await next_of(ws, ErrorMessage)
        assert "replay" in error.message
        with pytest.raises(websockets.ConnectionClosed):
            await recv(ws, 5)


async def test_replay_by_name_plays_seeks_and_refuses_interview(live, replays_root):
    frames_path = replays_root / "run1" / "frames.jsonl"
    async with websockets.connect(f"{live.ws}?replay=run1") as ws:
        hello = await next_of(ws, Hello)
        assert hello.replay is not None and hello.replay.run_id == "run1"
        assert hello.replay.first_tick == 0 and hello.replay.last_tick == 359
        assert (await control(ws, action="pause")).ok
        for target in (137, 60, 359, 1):  # between keyframes, on one, the last, right after the first
            assert (await control(ws, action="seek", value=target)).ok
            resync = await next_of(ws, Hello)
            assert resync.state.tick == target
            expected = reconstruct(frames_path, target)
            assert {i: a.pos for i, a in resync.state.agents.items()} == {i: a.pos for i, a in expected.items()}
            assert {i: a.action for i, a in resync.state.agents.items()} == {i: a.action for i, a in expected.items()}
        refused = await control(ws, action="interview", agent=0, question="你好")
        assert not refused.ok and "live" in (refused.error or "")
        assert (await control(ws, action="resume")).ok
        ended = await next_of(ws, Status)
        while not ended.ended:
            ended = await next_of(ws, Status)
        assert ended.paused and ended.tick == 359
    world = WorldInfo.model_validate((await get(live, "/api/world", replay="run1")).json())
    assert world.mode == "replay" and world.last_tick == 359


async def test_serve_replay_folder_plays_through_the_same_protocol(replays_root):
    frames_path = replays_root / "run1" / "frames.jsonl"
    with ServeProcess("--replay", str(replays_root / "run1"), "--speed", "0", token=TOKEN) as server:
        async with websockets.connect(server.ws) as ws:
            hello = await next_of(ws, Hello)
            state = {i: a.model_copy() for i, a in hello.state.agents.items()}
            last = hello.state.tick
            while last < 359:
                message = await recv(ws)
                if isinstance(message, Hello):
                    state = {i: a.model_copy() for i, a in message.state.agents.items()}
                    last = message.state.tick
                elif isinstance(message, FrameMessage):
                    assert message.frame.tick == last + 1
                    for agent_id, delta in message.frame.agents.items():
                        state[agent_id] = state[agent_id].model_copy(update=delta.model_dump(exclude_none=True))
                    last = message.frame.tick
        detail = AgentDetail.model_validate((await get(server, "/api/agents/0")).json())
    expected = reconstruct(frames_path, 359)
    assert {i: a.pos for i, a in state.items()} == {i: a.pos for i, a in expected.items()}
    assert not detail.live and detail.schedule, "a replay shows the persona's routine"


# --- REST -------------------------------------------------------------------------------------
async def test_rest_endpoints_return_the_documented_shapes(live):
    async with websockets.connect(live.ws) as ws:
        await next_of(ws, Hello)
        assert (await control(ws, action="speed", value=0)).ok
        assert (await control(ws, action="resume")).ok
        # 佟湘玉 wakes at 06:30 (tick 180) and plans her day.
        for _ in range(200):
            detail = AgentDetail.model_validate((await get(live, "/api/agents/0")).json())
            if detail.schedule and detail.memories:
                break
            await asyncio.sleep(0.05)
        assert (await control(ws, action="pause")).ok
    world = WorldInfo.model_validate((await get(live, "/api/world")).json())
    assert world.mode == "live" and world.world == "小小客栈" and world.agents == 3
    assert "客栈/大堂" in world.places and world.paused
    agents = TypeAdapter(list[AgentBrief]).validate_python((await get(live, "/api/agents")).json())
    assert [a.name for a in agents] == ["佟湘玉", "白展堂", "李大嘴"]
    assert all(a.pos is not None and a.action for a in agents)
    detail = AgentDetail.model_validate((await get(live, "/api/agents/0")).json())
    assert detail.live and detail.name == "佟湘玉"
    assert detail.schedule and detail.outline and detail.memories
    assert detail.current is not None and detail.current.activity
    assert {r.name for r in detail.relationships} >= {"白展堂", "李大嘴"}
    assert all(m.time.startswith("2026-03-01") for m in detail.memories)
    for reflection in detail.reflections:
        assert reflection.cites, "reflections are thoughts that cite memories"
    hello = Hello.model_validate((await get(live, "/api/hello")).json())
    assert hello.state.key and len(hello.personas) == 3
    assert (await get(live, "/api/agents/99")).status_code == 404
    page = await get(live, "/")
    assert page.status_code == 200 and "骆驼RPG" in page.text


# --- serve --watch ----------------------------------------------------------------------------
async def test_watch_reloads_a_valid_edit_and_survives_a_broken_one(tmp_path):
    world = tmp_path / "watched.yaml"
    original = TINY.read_text(encoding="utf-8")
    world.write_text(original, encoding="utf-8")
    with ServeProcess(str(world), "--watch", "--speed", "50", token=TOKEN) as server:
        async with websockets.connect(server.ws, max_size=None) as ws:
            assert (await next_of(ws, Hello)).world == "小小客栈"

            world.write_text(original.replace("name: 小小客栈", "name: 小小客栈二号", 1), encoding="utf-8")
            reloaded = await next_of(ws, Hello, timeout=20)
            assert reloaded.world == "小小客栈二号"
            assert reloaded.state.tick <= 30, "a reloaded world starts over"

            broken = original.replace("name: 小小客栈", "name: 小小客栈三号", 1).replace(
                "  tick_seconds: 10", "  tick_secnds: 10"
            )
            world.write_text(broken, encoding="utf-8")
            error = await next_of(ws, ErrorMessage, timeout=20)
            assert error.issues and re.search(r"watched\.yaml:\d+: .*tick_secnds", error.issues[0]), error.issues
            ticks = []
            while len(ticks) < 10:
                message = await recv(ws)
                assert not isinstance(message, Hello), "a broken edit must not restart the world"
                if isinstance(message, FrameMessage):
                    ticks.append(message.frame.tick)
            assert ticks == list(range(ticks[0], ticks[0] + 10)), "the old world keeps ticking"
        info = WorldInfo.model_validate((await get(server, "/api/world")).json())
        assert info.world == "小小客栈二号" and info.watching and info.errors
        async with websockets.connect(server.ws, max_size=None) as late:
            assert (await next_of(late, Hello)).errors, "a viewer who joins later still sees why"
