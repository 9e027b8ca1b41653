"""Faults against live Daphne processes (issue 11): nothing frozen, nothing lost, nothing open.

Each test runs real server processes on the test database (a SQLite file or PostgreSQL,
see ``tests.live_server.server_env``) and talks to them with ``websockets``.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import ClientConnection, connect

from streaming.models import StreamSession
from tests.live_server import free_port, server_env, start_daphne, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

RUNNING = StreamSession.Status.RUNNING
OPEN_TEXT = "This stream is still being written, and its text has no end yet. And then"
"""A first delta that cuts a segment; the stream's input stays open after it."""


def require_redis() -> None:
    """Skip without ``REDIS_URL``: the run on the defaults has none (CI's second run, on
    PostgreSQL and Redis, runs these tests)."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (the channel layer of a multi-process deployment)")


@asynccontextmanager
async def daphne(env: dict[str, str], log: Path) -> AsyncIterator[tuple[int, subprocess.Popen]]:
    """A Daphne process (its port and process) writing its stderr to ``log``; stopped
    at the end unless the test has already ended it."""
    port = free_port()
    with log.open("wb") as stderr:
        server = start_daphne(port, env, stderr=stderr)
    try:
        await wait_for_port(port)
        yield port, server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


def open_socket(port: int, path: str = "/api/tts/ws") -> connect:
    """A WebSocket connection to ``127.0.0.1:port``, from a page served there."""
    return connect(f"ws://127.0.0.1:{port}{path}", origin=f"http://127.0.0.1:{port}",
                   compression=None, open_timeout=60)


async def next_event(socket_: ClientConnection, kind: str) -> dict:
    """The next JSON event of a type (binary audio frames and other events are skipped)."""
    async with asyncio.timeout(30):
        while True:
            frame = await socket_.recv()
            if isinstance(frame, str) and (event := json.loads(frame))["type"] == kind:
                return event


@database_sync_to_async
def statuses(ids: list[str]) -> dict[str, tuple[str, str, bool]]:
    """Status, end reason and whether it has ended, by session id."""
    rows = StreamSession.objects.filter(id__in=ids)
    return {str(row.id): (row.status, row.end_reason, row.ended_at is not None) for row in rows}


@database_sync_to_async
def running_count() -> int:
    return StreamSession.objects.filter(status=RUNNING).count()


def live(ids: list[str]) -> dict[str, tuple[str, str, bool]]:
    """What :func:`statuses` says of sessions that are still running."""
    return {sid: (RUNNING, "", False) for sid in ids}


async def until_rows_running(ids: list[str]) -> None:
    """Return once every session has its ``running`` row (the row is inserted in the
    background after the ``session`` event)."""
    async with asyncio.timeout(30):
        while await statuses(ids) != live(ids):
            await asyncio.sleep(0.05)


async def test_streams_of_a_killed_process_are_interrupted_not_running_after_a_restart(
        tmp_path: Path) -> None:
    """kill -9 leaves the rows of its live streams ``running``; the next server process
    closes them (``interrupted``, ``server_restart``) before it accepts its first socket."""
    # Streams whose input is still open cannot finish on their own: they are live at the kill.
    env = server_env(STREAMING_INPUT_IDLE_TIMEOUT_S="3600")
    async with daphne(env, tmp_path / "killed.log") as (port, server), AsyncExitStack() as stack:
        session_ids = []
        for _ in range(3):
            listener = await stack.enter_async_context(open_socket(port))
            await listener.send(json.dumps({"type": "start", "tts": "simulated"}))
            await listener.send(json.dumps({"type": "text", "delta": OPEN_TEXT}))
            session_ids.append((await next_event(listener, "session"))["session_id"])
            await next_event(listener, "segment")  # its audio is being made and sent
        await until_rows_running(session_ids)

        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)  # reaped: a zombie's pid would still look alive
        left = await statuses(session_ids)

    async with daphne(env, tmp_path / "restarted.log") as (port, _), open_socket(port) as first:
        closed = await statuses(session_ids)  # as soon as the first handshake is done
        still_running = await running_count()
        await first.send(json.dumps({"type": "ping"}))
        await next_event(first, "pong")  # and it serves

    assert left == live(session_ids)  # nothing closed them
    assert closed == {sid: ("interrupted", "server_restart", True) for sid in session_ids}
    assert still_running == 0
    assert "Traceback" not in (tmp_path / "restarted.log").read_text(errors="replace")


async def test_a_starting_server_closes_the_rows_a_dead_process_left_before_any_connection(
        tmp_path: Path) -> None:
    """The ghost of a killed process leaves the monitor and the admin as the next server
    process starts, not only at its first connection: one of this host (its pid is gone),
    one of a host whose heartbeat stopped; a process of another host that still beats
    keeps its row."""
    from tests.test_monitor import dead_pid, running_row

    ghost = await running_row(f"{socket.gethostname()}:{dead_pid()}")
    gone_host = await running_row("gone-host:41")
    live_host = await running_row("live-host:42")
    await heartbeats({"gone-host:41": 3600, "live-host:42": 0})

    async with daphne(server_env(), tmp_path / "started.log"):
        async with asyncio.timeout(60):  # the server's start-up thread, no socket opened
            while RUNNING in {row[0] for row in (await statuses([ghost, gone_host])).values()}:
                await asyncio.sleep(0.05)
        live = (await statuses([live_host]))[live_host]

    assert await statuses([ghost, gone_host]) == {
        ghost: ("interrupted", "server_restart", True),
        gone_host: ("interrupted", "server_restart", True)}
    assert live == (RUNNING, "", False)


@database_sync_to_async
def heartbeats(seconds_ago: dict[str, float]) -> None:
    """Server processes last seen that many seconds ago."""
    from datetime import timedelta

    from django.utils import timezone

    from streaming.models import ServerProcess

    for name, ago in seconds_ago.items():
        ServerProcess.objects.create(name=name, seen_at=timezone.now() - timedelta(seconds=ago))


async def test_300_simultaneous_handshakes_on_one_process_all_connect_and_answer_ping(
        tmp_path: Path) -> None:
    """300 sockets opened at once on one Daphne process with the Redis channel layer: every
    handshake succeeds (no HTTP 500, no refusal), every socket answers a ping, and the
    server logs no traceback."""
    require_redis()
    log = tmp_path / "daphne.log"
    # One test client is one address: lift the per-address limit (its own tests: test_access).
    env = server_env(STREAMING_MAX_CONNECTIONS_PER_ADDRESS="0")
    async with daphne(env, log) as (port, _), AsyncExitStack() as stack:
        opened = await asyncio.gather(*(stack.enter_async_context(open_socket(port))
                                        for _ in range(300)), return_exceptions=True)
        refused = [repr(result) for result in opened if isinstance(result, BaseException)]
        assert refused == []

        async def ping(socket_: ClientConnection) -> str:
            await socket_.send(json.dumps({"type": "ping"}))
            return (await next_event(socket_, "pong"))["type"]

        answers = await asyncio.gather(*(ping(socket_) for socket_ in opened))
        assert answers == ["pong"] * 300

    assert "Traceback" not in log.read_text(errors="replace")
