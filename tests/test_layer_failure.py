"""A channel layer that dies mid-stream (Redis killed): the streams stop, their records say
the clients were cut off, and the service is back when Redis is, without a restart.

Runs a private ``redis-server`` on a free port, so it is real on every test database.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from channels.db import database_sync_to_async

from streaming.models import StreamSession
from tests.conftest import Client
from tests.live_server import free_port, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

LONG_TEXT = " ".join(f"Sentence number {n} keeps the stream busy for a while." for n in range(60))


def start_redis(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def private_redis(settings) -> Iterator[tuple[int, list[subprocess.Popen]]]:
    """A redis-server of the test's own, and the channel layer pointed at it."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI_REQUIRE_ALL"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = free_port()
    servers = [start_redis(port)]
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{port}/0", "socket_timeout": 15}]},
    }}
    yield port, servers
    for server in servers:
        server.kill()
        server.wait()


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    return StreamSession.objects.get(id=session_id)


def stream_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("stream")]


async def closed_code(client: Client) -> int:
    """The close code the server sent after the connection failed (events before it skipped)."""
    while True:
        output = await client.communicator.receive_output(timeout=20)
        if output["type"] == "websocket.close":
            client.closed = True
            return output["code"]


async def test_streams_stop_when_the_layer_dies_and_are_recorded_as_cut_off(
        private_redis, ws_client, caplog) -> None:
    port, servers = private_redis
    await wait_for_port(port)
    clients = [await ws_client(path) for path in ("/api/tts/ws", "/api/voicebot/streaming")]
    await clients[0].send(type="start", text=LONG_TEXT, tts="simulated")
    await clients[1].send(type="user_text", text="Tell me a long story please.",
                          tts="simulated")
    session_ids = [(await client.receive_until("segment"))["session_id"] for client in clients]

    servers[0].kill()
    codes = [await closed_code(client) for client in clients]

    assert codes == [1011, 1011]
    assert stream_tasks() == []
    for session_id in session_ids:
        record = await stored(session_id)
        assert (record.status, record.end_reason) == ("cancelled", "disconnected")
        assert record.ended_at is not None
    assert "connection failed; its stream stops" in caplog.text


async def test_the_service_is_back_when_redis_is_without_a_restart(
        private_redis, ws_client) -> None:
    port, servers = private_redis
    await wait_for_port(port)
    first = await ws_client()
    await first.send(type="start", text=LONG_TEXT, tts="simulated")
    await first.receive_until("segment")
    servers[0].kill()
    servers[0].wait()
    assert await closed_code(first) == 1011

    servers.append(start_redis(port))
    await wait_for_port(port)
    again = await ws_client()
    await again.send(type="start", text="Back again. All is well.", tts="simulated")

    assert (await again.receive_until("done"))["status"] == "completed"
