"""On-disk cache of chat responses, so a rerun of the same run costs nothing.

One sqlite file, keyed by a hash of everything that determines the answer
(model, messages, sampling parameters). The openai backend looks a request up
before it touches the network and stores every successful answer.

sqlite is fast enough here to be called straight from the event loop: a
lookup is one indexed read on a local file (well under a millisecond), far
cheaper than handing it to a thread. WAL mode lets a second process (a report
reading the cache, a resumed run) open the file while this one writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from luotuo_rpg.llm.chat import ChatResult

log = logging.getLogger(__name__)

# Bump when the meaning of a key or a row changes, so old files stop matching.
_KEY_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key        TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    text       TEXT NOT NULL,
    tokens_in  INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    estimated  INTEGER NOT NULL,
    created    REAL NOT NULL
)
"""


def cache_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """A stable hash of a request: same model, messages and parameters → same key.

    ``sort_keys`` and fixed separators make the JSON canonical; ``ensure_ascii``
    is off so Chinese text hashes as the UTF-8 it is.
    """
    payload = {"v": _KEY_VERSION, "model": model, "messages": messages, "params": params}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A sqlite-backed map from :func:`cache_key` to :class:`ChatResult`.

    One connection shared by the process, guarded by a lock: asyncio runs the
    calls one at a time anyway, the lock only matters if a worker thread (an
    embedder, a report) ever shares the object.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only an OS
            # crash can lose the last answers, which a rerun simply asks for again.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        log.debug("response cache opened at %s (%d entries)", self.path, len(self))

    def get(self, key: str) -> ChatResult | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, tokens_in, tokens_out, estimated FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        text, tokens_in, tokens_out, estimated = row
        return ChatResult(text=text, tokens_in=tokens_in, tokens_out=tokens_out, estimated=bool(estimated), cached=True)

    def put(self, key: str, model: str, result: ChatResult) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, model, result.text, result.tokens_in, result.tokens_out, int(result.estimated), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
