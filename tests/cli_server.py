"""Start ``luotuo-rpg serve`` as a real process on a free loopback port and wait until it accepts."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def serve_process(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
    wait_s: float = 30,
) -> Iterator[int]:
    """Yield the port of ``python -m luotuo_rpg.cli serve ARGS --port 0``; stop the server afterwards."""
    with served(args, cwd=cwd, env=env, python_flags=python_flags, wait_s=wait_s) as (_, port):
        yield port


@contextlib.contextmanager
def served(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
    wait_s: float = 30,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """As :func:`serve_process`, with the process too (to signal it)."""
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
