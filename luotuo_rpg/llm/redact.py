"""What may be shown of a server's address and of its errors: never a credential, never its text in a run's files.

- A base URL may carry credentials (``https://user:key@proxy/v1``, ``…/v1?api-key=…``):
  :func:`mask_url` keeps where it points and masks the rest, for every log line, message,
  ``repr`` and ``meta.json``.
- A server's error text may quote the key, the prompt, or anything its operator put there:
  :func:`failure_text` says what failed (exception class, HTTP status) without it; the text
  itself goes to the log only.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import openai

MASK = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|password|passwd|sig|auth", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``https://user:pw@host/v1?api_key=k&x=1`` → ``https://***@host/v1?api_key=***&x=1``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_masked(url: str) -> bool:
    return MASK in url


def failure_text(exc: BaseException) -> str:
    """``AuthenticationError (HTTP 401)``: the kind of failure, not the server's words."""
    if isinstance(exc, openai.APIStatusError):
        return f"{type(exc).__name__} (HTTP {exc.status_code})"
    return type(exc).__name__
