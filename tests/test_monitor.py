"""The live monitor: staff only, sees sessions start and end, stops one anywhere."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.test import Client

from streaming.models import StreamSession
from streaming.monitor import MonitorConsumer
from tests.conftest import REPLY_TIMEOUT
from tests.live_server import free_port, server_env, start_daphne, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

LONG_TEXT = "This sentence keeps the stream busy for a while. " * 40


@database_sync_to_async
def staff_user(*permissions: str, name: str = "staff") -> User:
    """A staff member with these ``streaming`` permissions (default: view and stop)."""
    user = User.objects.create_user(name, password="pw", is_staff=True)
    codenames = permissions or ("view_streamsession", "stop_streamsession")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="streaming",
                                                        codename__in=codenames))
    return user


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    return StreamSession.objects.get(id=session_id)


async def monitor_for(user: object) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(MonitorConsumer.as_asgi(), "/api/monitor/ws")
    communicator.scope["user"] = user
    return communicator


async def receive_type(communicator: WebsocketCommunicator, kind: str, session_id: str) -> dict:
    while True:
        event = await communicator.receive_json_from(timeout=REPLY_TIMEOUT)
        if event["type"] == kind and event.get("session_id") == session_id:
            return event


async def test_anonymous_users_are_refused() -> None:
    monitor = await monitor_for(AnonymousUser())
    connected, code = await monitor.connect(timeout=REPLY_TIMEOUT)
    assert not connected and code == 4403


async def test_staff_without_the_view_permission_are_refused() -> None:
    monitor = await monitor_for(await staff_user("view_conversation"))
    connected, code = await monitor.connect(timeout=REPLY_TIMEOUT)
    assert not connected and code == 4403


async def test_staff_who_may_only_view_watch_sessions_but_cannot_stop_them(ws_client) -> None:
    monitor = await monitor_for(await staff_user("view_streamsession"))
    connected, _ = await monitor.connect(timeout=REPLY_TIMEOUT)
    assert connected
    snapshot = await monitor.receive_json_from(timeout=REPLY_TIMEOUT)
    assert snapshot["type"] == "snapshot" and snapshot["can_stop"] is False
    client = await ws_client()
    await client.send(type="start", text="Keep going. Nobody may stop me. " * 4,
                      tts="simulated")
    sid = (await client.receive_until("session"))["session_id"]

    await receive_type(monitor, "start", sid)
    await monitor.send_json_to({"type": "stop", "session_id": sid})
    refused = await monitor.receive_json_from(timeout=REPLY_TIMEOUT)
    done = await client.receive_until("done")

    assert refused["type"] == "error" and "permission" in refused["message"]
    assert done["status"] == "completed" and (await stored(sid)).end_reason != "monitor"
    await monitor.disconnect()


async def test_monitor_sees_a_session_and_stops_it(ws_client) -> None:
    monitor = await monitor_for(await staff_user())
    connected, _ = await monitor.connect(timeout=REPLY_TIMEOUT)
    assert connected
    assert (await monitor.receive_json_from(timeout=REPLY_TIMEOUT))["type"] == "snapshot"
    client = await ws_client()
    await client.send(type="start", text=LONG_TEXT, tts="simulated")
    session = await client.receive_until("session")
    sid = session["session_id"]

    start = await receive_type(monitor, "start", sid)
    progress = await receive_type(monitor, "progress", sid)
    await monitor.send_json_to({"type": "stop", "session_id": sid})
    done = await client.receive_until("done")
    end = await receive_type(monitor, "end", sid)

    assert start["kind"] == "tts" and start["tts"] == "simulated"
    assert progress["synth_ms"] >= progress["audio_ms"]  # synthesized ahead of the sending
    assert done["status"] == "cancelled" and end["status"] == "cancelled"
    assert (await stored(sid)).end_reason == "monitor"
    await monitor.send_to(text_data="{oops")
    assert (await monitor.receive_json_from(timeout=REPLY_TIMEOUT))["type"] == "error"
    await monitor.disconnect()


@pytest.mark.skipif(not (os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL")),
                    reason="needs REDIS_URL and DATABASE_URL (two processes share them)")
async def test_two_processes_a_monitor_on_one_stops_a_session_on_the_other() -> None:
    import websockets

    await staff_user()
    login = Client()
    assert await database_sync_to_async(login.login)(username="staff", password="pw")
    cookie = f"sessionid={login.cookies['sessionid'].value}"
    env = server_env()
    ports = free_port(), free_port()
    servers = [start_daphne(port, env) for port in ports]
    origins = [{"Origin": f"http://localhost:{port}"} for port in ports]
    try:
        for port in ports:
            await wait_for_port(port)
        async with (
            websockets.connect(f"ws://localhost:{ports[1]}/api/monitor/ws",
                               additional_headers={"Cookie": cookie, **origins[1]}) as monitor,
            websockets.connect(f"ws://localhost:{ports[0]}/api/tts/ws",
                               additional_headers=origins[0]) as speaker,
        ):
            snapshot = json.loads(await monitor.recv())
            assert snapshot["type"] == "snapshot"
            await speaker.send(json.dumps({"type": "start", "text": LONG_TEXT,
                                           "tts": "simulated"}))
            session = json.loads(await speaker.recv())
            sid = session["session_id"]
            start = await next_event(monitor, "start", sid)
            await monitor.send(json.dumps({"type": "stop", "session_id": sid}))
            done = await next_event(speaker, "done", sid)
            end = await next_event(monitor, "end", sid)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)

    assert start["server"] == end["server"] != snapshot["server"]  # seen from another process
    assert done["status"] == "cancelled" and end["status"] == "cancelled"
    record = await stored(sid)
    assert record.status == "cancelled" and record.end_reason == "monitor"


async def next_event(socket_: object, kind: str, session_id: str) -> dict:
    """The next JSON event of a type for a session (binary audio frames are skipped)."""
    async with asyncio.timeout(30):
        while True:
            frame = await socket_.recv()
            if isinstance(frame, bytes):
                continue
            event = json.loads(frame)
            if event["type"] == kind and event.get("session_id") == session_id:
                return event


def test_the_live_page_is_for_staff_and_linked_from_the_sessions(admin_client, client) -> None:
    page = admin_client.get("/admin/live/")
    assert page.status_code == 200 and b'data-ws-path="/api/monitor/ws"' in page.content
    assert b'href="/admin/live/"' in admin_client.get("/admin/streaming/streamsession/").content
    assert client.get("/admin/live/").status_code == 302  # to the login page
    User.objects.create_user("plain-staff", password="pw", is_staff=True)
    assert client.login(username="plain-staff", password="pw")
    assert client.get("/admin/live/").status_code == 403  # staff, but may not see sessions


def test_the_live_page_has_the_admins_layout_and_the_index_links_it(admin_client,
                                                                     client) -> None:
    from django.contrib import admin

    page = admin_client.get("/admin/live/").content.decode()

    assert f"<a href=\"/admin/\">{admin.site.site_header}</a>" in page  # the admin's header
    assert 'id="nav-sidebar"' in page  # and its navigation
    assert '<a href="/admin/streaming/streamsession/">Sessions</a>' in page  # breadcrumbs
    assert 'href="/admin/live/"' in admin_client.get("/admin/").content.decode()
    User.objects.create_user("plain-staff", password="pw", is_staff=True)
    assert client.login(username="plain-staff", password="pw")
    assert 'href="/admin/live/"' not in client.get("/admin/").content.decode()


def dead_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


@database_sync_to_async
def running_row(server: str) -> str:
    return str(StreamSession.objects.create(kind="tts", tts_provider="piper", server=server).id)


async def test_rows_a_killed_process_left_running_are_closed_and_leave_the_monitor(
        monkeypatch) -> None:
    from streaming import processes

    monkeypatch.setattr(processes, "_first_pass_done", threading.Event())  # a new process
    orphan = await running_row(f"{socket.gethostname()}:{dead_pid()}")
    ours = await running_row(processes.SERVER)
    elsewhere = await running_row(f"another-host:{dead_pid()}")

    monitor = await monitor_for(await staff_user())
    connected, _ = await monitor.connect(timeout=REPLY_TIMEOUT)
    snapshot = await monitor.receive_json_from(timeout=REPLY_TIMEOUT)

    assert connected
    assert {s["id"] for s in snapshot["sessions"]} == {ours, elsewhere}
    closed = await stored(orphan)
    assert closed.status == "interrupted" and closed.end_reason == "server_restart"
    assert closed.ended_at is not None
    assert (await stored(ours)).status == (await stored(elsewhere)).status == "running"
    await monitor.disconnect()


async def next_snapshot(monitor: WebsocketCommunicator) -> set[str]:
    """The session ids of the monitor's next snapshot."""
    while (event := await monitor.receive_json_from(timeout=REPLY_TIMEOUT))["type"] != "snapshot":
        pass
    return {s["id"] for s in event["sessions"]}


@database_sync_to_async
def close_row(session_id: str) -> None:
    StreamSession.objects.filter(id=session_id).update(status="completed")


async def test_a_snapshot_every_few_seconds_puts_right_start_and_end_events_that_were_lost(
        monkeypatch) -> None:
    from streaming import monitor as monitor_module
    from streaming import processes

    monkeypatch.setattr(monitor_module, "RESYNC_S", 0.05)
    monitor = await monitor_for(await staff_user())
    assert (await monitor.connect(timeout=REPLY_TIMEOUT))[0]
    first = await next_snapshot(monitor)
    sid = await running_row(processes.SERVER)  # its "start" never reached the monitor

    listed = await next_snapshot(monitor)
    await close_row(sid)  # and its "end" never does either
    for _ in range(20):  # snapshots queried before the row closed may still be on the way
        if sid not in (later := await next_snapshot(monitor)):
            break

    assert sid not in first and sid in listed and sid not in later
    await monitor.disconnect()


@pytest.mark.parametrize("frame", [
    "{oops", "[" * 20_000 + "]" * 20_000, '{"type": "stop"}', '{"type": "stop", "session_id": 5}',
    '{"type": "dance"}', "[1, 2]", '{"type": "stop", "session_id": NaN}',
])
async def test_bad_monitor_frames_get_an_error_and_the_socket_lives(frame: str, caplog) -> None:
    monitor = await monitor_for(await staff_user())
    assert (await monitor.connect(timeout=REPLY_TIMEOUT))[0]
    await next_snapshot(monitor)

    await monitor.send_to(text_data=frame)
    error = await monitor.receive_json_from(timeout=REPLY_TIMEOUT)
    await monitor.send_to(bytes_data=b"\x00")
    binary_error = await monitor.receive_json_from(timeout=REPLY_TIMEOUT)

    assert error["type"] == "error" and len(error["message"]) < 300
    assert binary_error["type"] == "error"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await monitor.disconnect()


@pytest.fixture
def layer_calls(monkeypatch) -> list[tuple[str, str, dict]]:
    """Every send and group_send on the channel layer: (method, target, message)."""
    from channels.layers import get_channel_layer

    layer, calls = get_channel_layer(), []
    for method in ("send", "group_send"):
        original = getattr(layer, method)

        async def spy(target: str, message: dict, _m: str = method, _o=original) -> None:
            calls.append((_m, target, message))
            await _o(target, message)

        monkeypatch.setattr(layer, method, spy)
    return calls


async def test_a_stop_goes_to_the_one_connection_that_runs_the_session(
        ws_client, layer_calls) -> None:
    monitor = await monitor_for(await staff_user())
    assert (await monitor.connect(timeout=REPLY_TIMEOUT))[0]
    await next_snapshot(monitor)
    first, second = await ws_client(), await ws_client()
    for client in (first, second):
        await client.send(type="start", text=LONG_TEXT, tts="simulated")
    sid = (await first.receive_until("segment"))["session_id"]
    await second.receive_until("segment")

    await monitor.send_json_to({"type": "stop", "session_id": sid})
    stopped = await first.receive_until("done")

    stops = [(m, target) for m, target, msg in layer_calls if msg["type"] == "stream.stop"]
    assert stopped["status"] == "cancelled"
    assert stops == [("send", (await stored(sid)).channel)]
    await second.send(type="ping")
    await second.receive_until("pong")
    assert "done" not in second.kinds()  # the other stream runs on
    await monitor.disconnect()


async def test_a_stop_for_a_session_that_is_not_running_says_so() -> None:
    monitor = await monitor_for(await staff_user())
    assert (await monitor.connect(timeout=REPLY_TIMEOUT))[0]
    await next_snapshot(monitor)

    await monitor.send_json_to({"type": "stop", "session_id": str(uuid.uuid4())})

    refused = await monitor.receive_json_from(timeout=REPLY_TIMEOUT)
    assert refused["message"] == "no running session has that id"
    await monitor.disconnect()


async def test_progress_is_published_only_while_a_monitor_watches(
        ws_client, layer_calls, monkeypatch) -> None:
    from streaming import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "_watched_until", 0.0)
    client = await ws_client()
    await client.send(type="start", text=LONG_TEXT, tts="simulated")
    await client.receive_until("done", timeout=60)
    unwatched = [msg for _, _, msg in layer_calls
                 if msg["type"] == "monitor.event" and msg["event"]["type"] == "progress"]

    monitor = await monitor_for(await staff_user())
    assert (await monitor.connect(timeout=REPLY_TIMEOUT))[0]
    await next_snapshot(monitor)
    await client.send(type="start", text=LONG_TEXT, tts="simulated")
    sid = (await client.receive_until("session"))["session_id"]
    watched = await receive_type(monitor, "progress", sid)

    assert unwatched == [] and watched["session_id"] == sid
    await monitor.disconnect()
