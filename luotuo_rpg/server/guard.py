"""Who may talk to the server at all, before any route runs (REST, the viewer's files, the websocket).

- ``Host`` must name this server: the address it is bound to, ``localhost``, a loopback
  address, or a name given with ``--allow-host``; else 400. A DNS-rebinding page reaches
  127.0.0.1 under its own name, so its ``Host`` is refused. (On a wildcard bind, any IP
  literal passes too: rebinding needs a name.)
- ``Origin``, when a browser sends one, must be the server's own (same host and port as
  ``Host``) or one given with ``--allow-origin``; else 403. A page on another site can then
  neither open ``/ws`` nor read the REST API. Clients that are not browsers send no
  ``Origin`` and pass.
- The token: ``?token=`` on a page request sets a same-site, HTTP-only cookie (when it is
  the right token); the page then drops it from its address bar. A websocket presents the
  token by that cookie or as a ``Sec-WebSocket-Protocol`` value ``luotuo-token.TOKEN``
  offered beside ``luotuo`` (for clients that are not browsers), never in its URL.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

TOKEN_COOKIE = "luotuo_token"
SUBPROTOCOL = "luotuo"
TOKEN_SUBPROTOCOL_PREFIX = "luotuo-token."
MIN_TOKEN_LENGTH = 16
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]+")
"""URL-safe characters only: the token travels in a URL, a cookie and a subprotocol name unescaped."""

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_WILDCARDS = {"0.0.0.0", "::", ""}


def token_problem(token: str) -> str | None:
    """Why a token cannot be the server's, or None."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"the token must be at least {MIN_TOKEN_LENGTH} characters (got {len(token)})"
    if not TOKEN_PATTERN.fullmatch(token):
        return "the token may hold only letters, digits and . _ ~ -"
    return None


def token_ok(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _hostname(host_header: str) -> str:
    """``[::1]:8000`` → ``::1``; ``Example.org:80`` → ``example.org``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    def __init__(self, bound: str, allow_hosts: Iterable[str] = (), allow_origins: Iterable[str] = ()) -> None:
        self.bound = _hostname(bound) if bound not in _WILDCARDS else bound
        self.hosts = _LOOPBACK_NAMES | {self.bound} | {h.strip().lower() for h in allow_hosts}
        self.origins = {o.strip().lower().rstrip("/") for o in allow_origins}

    def host_ok(self, host_header: str) -> bool:
        name = _hostname(host_header)
        if name in self.hosts:
            return True
        return self.bound in _WILDCARDS and _is_ip(name)

    def origin_ok(self, origin: str, host_header: str) -> bool:
        origin = origin.strip().lower().rstrip("/")
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host_header.strip().lower()


class RequestGuard:
    """ASGI middleware applying :class:`HostPolicy` to every request and turning ``?token=`` into a cookie."""

    def __init__(self, app: ASGIApp, policy: HostPolicy, token: str) -> None:
        self.app = app
        self.policy = policy
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.policy.host_ok(host):
            log.info("refused a request for host %r", host[:100])
            await _refuse(
                scope,
                receive,
                send,
                400,
                "unknown Host: this server answers to its own address (serve --allow-host NAME to add one)",
            )
            return
        origin = headers.get("origin")
        if origin is not None and not self.policy.origin_ok(origin, host):
            log.info("refused a request from origin %r", origin[:100])
            await _refuse(
                scope, receive, send, 403, "cross-origin request refused (serve --allow-origin ORIGIN to allow one)"
            )
            return
        if scope["type"] == "http" and scope["method"] == "GET" and b"token=" in scope.get("query_string", b""):
            send = self._set_cookie_if_token(scope, send)
        await self.app(scope, receive, send)

    def _set_cookie_if_token(self, scope: Scope, send: Send) -> Send:
        given = parse_qs(scope["query_string"].decode("latin-1")).get("token", [""])[0]
        if not token_ok(given, self.token):
            return send
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict{secure}".encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return send_with_cookie


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


def handshake_token(scope: Scope) -> tuple[str | None, bool]:
    """The token a websocket presented at its handshake (cookie or subprotocol), and whether it
    offered the ``luotuo`` subprotocol (then it must be accepted with it)."""
    headers = Headers(scope=scope)
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    for protocol in offered:
        if protocol.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return protocol[len(TOKEN_SUBPROTOCOL_PREFIX) :], SUBPROTOCOL in offered
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE:
            return value, SUBPROTOCOL in offered
    return None, SUBPROTOCOL in offered
