"""Who may open a streaming WebSocket, and how much: the page's own origin (scheme, host and
port), a login when ``STREAMING['REQUIRE_LOGIN']`` is on, connections per client address,
and streams per minute per user or address.

The counters live in the server process: with N processes a client may hold N times the
limits. Behind a reverse proxy, run Daphne with ``--proxy-headers`` so that the client's
address (and scheme) come from the proxy's ``X-Forwarded-For`` (and ``-Proto``).
"""
from __future__ import annotations

import functools
import json
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
DEFAULT_PORTS = {"http": "80", "https": "443"}


def header(scope: Scope, name: bytes) -> str:
    """A request header's value ("" when absent)."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def normalized_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, without the scheme's default port."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and str(port) != DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def page_origin(scope: Scope) -> str | None:
    """The origin of a page served by this server for this request: its scheme, and the
    ``Host`` it was asked for (when ``ALLOWED_HOSTS`` allows it)."""
    host = header(scope, b"host")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    forwarded = settings.SECURE_PROXY_SSL_HEADER is not None and header(
        scope, b"x-forwarded-proto").lower() == "https"
    secure = forwarded or scope.get("scheme") in ("wss", "https")
    return normalized_origin(f"{'https' if secure else 'http'}://{host}")


def origin_allowed(scope: Scope) -> bool:
    """Is the handshake's ``Origin`` this server's page, or one of ``CSRF_TRUSTED_ORIGINS``?"""
    origin = normalized_origin(header(scope, b"origin"))
    if origin is None:
        return False
    trusted = {normalized_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    return origin == page_origin(scope) or origin in trusted


async def refuse(receive: Receive, send: Send, code: str, message: str,
                 close_code: int) -> None:
    """Complete the handshake only to say why the connection is refused, then close."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(
        {"type": "error", "code": code, "message": message, "fatal": True})})
    await send({"type": "websocket.close", "code": close_code})


async def deny(receive: Receive, send: Send) -> None:
    """Refuse the handshake (HTTP 403), as Channels' origin validator does."""
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


def client_address(scope: Scope) -> str:
    """The client's IP address (the proxy's ``X-Forwarded-For`` with ``--proxy-headers``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def client_key(scope: Scope) -> str:
    """Whom a limit counts: the logged-in user, else the client's address."""
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return f"address:{client_address(scope)}"


class StreamAccess:
    """ASGI middleware in front of the streaming endpoints: the origin check, the login
    check when required, and the limit on open connections per client address."""

    def __init__(self, inner: App) -> None:
        self.inner = inner
        self.with_user = AuthMiddlewareStack(self._admit)
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not origin_allowed(scope):
            await deny(receive, send)
            return
        if settings.STREAMING["REQUIRE_LOGIN"]:
            await self.with_user(scope, receive, send)
        else:
            await self._admit(scope, receive, send)

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if settings.STREAMING["REQUIRE_LOGIN"] and not getattr(user, "is_authenticated", False):
            await refuse(receive, send, "login_required", "log in to use this endpoint", 4401)
            return
        address = client_address(scope)
        limit = settings.STREAMING["MAX_CONNECTIONS_PER_ADDRESS"]
        if limit and self.open[address] >= limit:
            await refuse(receive, send, "too_many_connections",
                         f"at most {limit} open connections per client address", 4429)
            return
        self.open[address] += 1
        try:
            await self.inner(scope, receive, send)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]


class RateLimit:
    """At most ``limit`` events per key in any ``window_s`` seconds (a sliding window)."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self.events: dict[str, deque[float]] = {}

    def wait_s(self, key: str, limit: int) -> float:
        """0 and the event is counted, or the seconds until ``key`` may have one more."""
        if not limit:
            return 0.0
        now = time.monotonic()
        times = self.events.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= limit:
            return times[0] + self.window_s - now
        times.append(now)
        self.forget_idle(now)
        return 0.0

    def forget_idle(self, now: float) -> None:
        """Drop keys whose events have all left the window (memory stays bounded)."""
        if len(self.events) > 1024:
            self.events = {k: v for k, v in self.events.items()
                           if v and v[-1] > now - self.window_s}


stream_starts = RateLimit()


def stream_wait_s(scope: Scope) -> int:
    """0 when this client may start one more stream now (and it is counted), else the
    whole seconds to wait (``STREAMING['STREAMS_PER_MINUTE']``)."""
    wait = stream_starts.wait_s(client_key(scope), settings.STREAMING["STREAMS_PER_MINUTE"])
    return math.ceil(wait)


def page(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """An async view that sends visitors to the login page when login is required."""

    @functools.wraps(view)
    async def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if settings.STREAMING["REQUIRE_LOGIN"] and not (await request.auser()).is_authenticated:
            return redirect_to_login(request.get_full_path())
        return await view(request, *args, **kwargs)

    return guarded
