"""``luotuo-rpg serve`` and ``luotuo-rpg mock-llm`` as real processes on free loopback ports, waited for
until they answer and stopped afterwards."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def served(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
    wait_s: float = 30,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Yield ``python -m luotuo_rpg.cli serve ARGS --port 0`` and its port (the process, to signal it);
    stop the server afterwards."""
    server = subprocess.Popen(
        [sys.executable, *python_flags, "-m", "luotuo_rpg.cli", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        assert server.stdout is not None
        seen: list[str] = []
        port = None
        for line in server.stdout:
            seen.append(line)
            if found := LISTENING.search(line):
                port = int(found[1])
                break
        assert port, "".join(seen)
        # The port is bound before uvicorn listens on it: wait until it accepts.
        deadline = time.monotonic() + wait_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never started listening"
                time.sleep(0.05)
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mock_llm(*flags: str, cwd: Path, wait_s: float = 30) -> Iterator[int]:
    """Yield the port of ``python -m luotuo_rpg.cli mock-llm --port P FLAGS`` once ``/v1/models`` answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "luotuo_rpg.cli", "mock-llm", "--port", str(port), *flags],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models").raise_for_status()
                break
            except httpx.TransportError:
                assert server.poll() is None, "mock-llm exited"
                assert time.monotonic() < deadline, "mock-llm never answered"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
