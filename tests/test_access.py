"""Who may stream: the page's own origin (scheme, host and port), a login when required,
connections per client address and streams per minute."""
from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client as HttpClient

from streaming import access
from tests.conftest import REPLY_TIMEOUT, Client

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(path: str = "/api/tts/ws", *, origin: str = "http://localhost:8001",
                 host: str = "localhost:8001", address: str = "10.0.0.1",
                 extra: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    from voicebot_site.asgi import application

    headers = [(b"origin", origin.encode()), (b"host", host.encode()), *(extra or [])]
    made = WebsocketCommunicator(application, path, headers=headers)
    made.scope["client"] = (address, 50000)  # the app reads the scope when it first runs
    return made


async def accepted(made: WebsocketCommunicator) -> bool:
    connected, _ = await made.connect(timeout=REPLY_TIMEOUT)
    if connected:
        await made.disconnect()
    return connected


@pytest.mark.parametrize(("origin", "host"), [
    ("http://localhost:8001", "localhost:8001"),
    ("HTTP://LOCALHOST:8001", "localhost:8001"),
    ("http://127.0.0.1", "127.0.0.1:80"),  # the scheme's default port, written or not
    ("http://[::1]:8001", "[::1]:8001"),
])
async def test_the_pages_own_origin_is_accepted(origin: str, host: str) -> None:
    assert await accepted(communicator(origin=origin, host=host))


@pytest.mark.parametrize(("origin", "host"), [
    ("http://localhost:9000", "localhost:8001"),  # another port
    ("https://localhost:8001", "localhost:8001"),  # another scheme
    ("http://evil.example:8001", "localhost:8001"),  # another host
    ("http://evil.example", "evil.example"),  # a host not in ALLOWED_HOSTS
    ("null", "localhost:8001"),
    ("", "localhost:8001"),
    ("http://localhost:8001/page", "localhost:8001"),
    ("http://localhost:99999", "localhost:99999"),
])
async def test_any_other_origin_is_refused_at_the_handshake(origin: str, host: str) -> None:
    assert not await accepted(communicator(origin=origin, host=host))


async def test_behind_a_tls_proxy_the_page_origin_is_https(settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = [(b"x-forwarded-proto", b"https")]

    assert await accepted(communicator(origin="https://localhost", host="localhost",
                                       extra=proxied))
    assert not await accepted(communicator(origin="http://localhost", host="localhost",
                                           extra=proxied))


async def test_a_trusted_origin_is_accepted(settings) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]

    assert await accepted(communicator(origin="https://app.example.com"))


async def test_connections_per_address_are_limited_and_freed_on_close(settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "MAX_CONNECTIONS_PER_ADDRESS": 2}
    first, second = communicator(), communicator()
    assert (await first.connect(timeout=REPLY_TIMEOUT))[0]
    assert (await second.connect(timeout=REPLY_TIMEOUT))[0]

    third = communicator()
    assert (await third.connect(timeout=REPLY_TIMEOUT))[0]  # accepted only to say why it is refused
    refusal = json.loads(await third.receive_from(timeout=REPLY_TIMEOUT))
    closed = await third.receive_output(timeout=REPLY_TIMEOUT)
    other_address = communicator(address="10.0.0.2")
    await first.disconnect()
    after_close = communicator()

    assert refusal["code"] == "too_many_connections" and refusal["fatal"] is True
    assert closed == {"type": "websocket.close", "code": 4429}
    assert await accepted(other_address)
    assert await accepted(after_close)
    await second.disconnect()


async def test_streams_per_minute_are_limited_per_address_and_the_socket_lives(
        settings, ws_client) -> None:
    settings.STREAMING = {**settings.STREAMING, "STREAMS_PER_MINUTE": 2}
    access.stream_starts.events.clear()
    tts = await ws_client()
    for text in ("One.", "Two."):
        await tts.send(type="start", text=text, tts="simulated")
        assert (await tts.receive_until("done"))["status"] == "completed"

    await tts.send(type="start", text="Three.", tts="simulated")
    refused = await tts.receive_until("error")
    bot = await ws_client("/api/voicebot/streaming")
    await bot.send(type="user_text", text="Hello?", tts="simulated")
    bot_refused = await bot.receive_until("error")

    assert refused["code"] == "rate_limited" and "try again in" in refused["message"]
    assert bot_refused["code"] == "rate_limited"
    await tts.send(type="ping")
    assert (await tts.receive())["type"] == "pong"
    access.stream_starts.events.clear()


def test_a_rate_limit_forgets_events_older_than_its_window() -> None:
    limit = access.RateLimit(window_s=0.0)  # every event has left the window at once

    assert [limit.wait_s("a", 1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert access.RateLimit().wait_s("a", 0) == 0.0  # 0: no limit


@database_sync_to_async
def login_cookie() -> bytes:
    User.objects.create_user("listener", password="pw")
    http = HttpClient()
    assert http.login(username="listener", password="pw")
    return f"sessionid={http.cookies['sessionid'].value}".encode()


async def test_with_login_required_anonymous_sockets_are_refused_and_users_stream(
        settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "REQUIRE_LOGIN": True}
    anonymous = communicator()
    assert (await anonymous.connect(timeout=REPLY_TIMEOUT))[0]
    refusal = json.loads(await anonymous.receive_from(timeout=REPLY_TIMEOUT))
    closed = await anonymous.receive_output(timeout=REPLY_TIMEOUT)

    user = Client(communicator(extra=[(b"cookie", await login_cookie())]))
    assert (await user.communicator.connect(timeout=REPLY_TIMEOUT))[0]
    await user.send(type="start", text="Welcome back.", tts="simulated")

    assert refusal["code"] == "login_required" and closed["code"] == 4401
    assert (await user.receive_until("done"))["status"] == "completed"
    await user.disconnect()


@pytest.mark.parametrize("path", ["/tts/", "/voicebot/", "/api/voices"])
def test_with_login_required_pages_send_visitors_to_the_login_page(
        client, admin_client, settings, path: str) -> None:
    settings.STREAMING = {**settings.STREAMING, "REQUIRE_LOGIN": True}

    visitor = client.get(path)

    assert visitor.status_code == 302 and visitor["Location"] == f"/admin/login/?next={path}"
    assert admin_client.get(path).status_code == 200


def test_without_login_required_pages_are_open(client) -> None:
    assert client.get("/tts/").status_code == 200
