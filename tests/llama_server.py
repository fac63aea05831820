"""llama-cpp-python's OpenAI-compatible server on a free loopback port, for the real-model tier
(tests/test_real_model.py) and its benchmark (benchmarks/real_model.py, which puts tests/ on its path).

A test helper, not part of the package: users start the server themselves (the README's command);
this starts it the same way, with the tier's settings.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from cli_server import free_port

# Long enough for the tier's prompts with the answer; the model's alias is what the requests name.
N_CTX = 8192
MODEL_ALIAS = "qwen"


class LlamaServerError(RuntimeError):
    """The server exited or never answered; the message names its log."""


@contextlib.contextmanager
def llama_cpp_server(model: Path, threads: int, log: Path) -> Iterator[str]:
    """Yield the server's ``/v1`` URL once ``/models`` answers (loading takes seconds); stop it afterwards.

    Its output goes to ``log``. It serves one request at a time and queues the rest, as a user's would.
    """
    port = free_port()
    with log.open("w") as handle:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(N_CTX),
                "--n_threads",
                str(threads),
                "--model_alias",
                MODEL_ALIAS,
                "--chat_format",
                "chatml",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait_until_it_answers(server, url, log)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_it_answers(server: subprocess.Popen, url: str, log: Path) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise LlamaServerError(f"llama-cpp-python server exited: see {log}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    raise LlamaServerError(f"llama-cpp-python server did not start: see {log}")
