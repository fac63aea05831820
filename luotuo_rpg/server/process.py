"""``luotuo-rpg serve`` in a child process, for tests and benchmarks that need a real server.

The child binds port 0 and prints the address it got, so runs never race
for a port; its stdout is drained by a thread so it can never block on a
full pipe, and stderr goes to a file a failing test can show.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)

_LISTENING = "listening on "


class ServeProcess:
    def __init__(
        self, *args: str, token: str = "test-token-0123456789", timeout: float = 30.0, env: dict[str, str] | None = None
    ):
        self.token = token
        self.args = [sys.executable, "-m", "luotuo_rpg.cli", "serve", *args, "--port", "0", "--token", token]
        self.timeout = timeout
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.output: list[str] = []
        self.base = ""
        self._stderr = tempfile.NamedTemporaryFile(prefix="luotuo-serve-", suffix=".log", delete=False)  # noqa: SIM115
        self._proc: subprocess.Popen[str] | None = None

    @property
    def ws(self) -> str:
        return "ws" + self.base[len("http") :] + "/ws"

    @property
    def stderr(self) -> str:
        return Path(self._stderr.name).read_text(encoding="utf-8", errors="replace")

    def start(self) -> Self:
        self._proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, encoding="utf-8", env=self.env
        )
        ready = threading.Event()

        def drain() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                self.output.append(line.rstrip("\n"))
                if line.startswith(_LISTENING):
                    self.base = line[len(_LISTENING) :].strip()
                    ready.set()
            ready.set()

        threading.Thread(target=drain, name="serve-stdout", daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while not ready.wait(0.05):
            if time.monotonic() > deadline:
                break
        if not self.base:
            errors = self.stderr
            self.stop()
            raise RuntimeError(f"server did not start: {' '.join(self.args)}\n{chr(10).join(self.output)}\n{errors}")
        return self

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr.name)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
