"""Server processes say they are alive; the rows a dead one left ``running`` are closed,
whichever host it ran on."""
from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest
from django.utils import timezone

from streaming import processes
from streaming.models import ServerProcess, StreamSession
from tests.test_monitor import dead_pid

pytestmark = pytest.mark.django_db

HEARTBEAT_S = 30.0
LONG_AGO = dt.timedelta(seconds=processes.STALE_BEATS * HEARTBEAT_S + 60)


@pytest.fixture(autouse=True)
def heartbeats_on(settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "HEARTBEAT_S": HEARTBEAT_S}


def running(server: str, *, age: dt.timedelta = dt.timedelta()) -> StreamSession:
    row = StreamSession.objects.create(kind="tts", tts_provider="piper", server=server)
    StreamSession.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row


def seen(server: str, ago: dt.timedelta) -> None:
    ServerProcess.objects.create(name=server, seen_at=timezone.now() - ago)


def status(row: StreamSession) -> tuple[str, str]:
    row.refresh_from_db()
    return row.status, row.end_reason


def test_the_rows_of_a_process_whose_heartbeat_stopped_are_closed_on_any_host() -> None:
    seen("gone-host:41", LONG_AGO)
    seen("live-host:42", dt.timedelta(seconds=5))
    gone = running("gone-host:41", age=LONG_AGO * 2)
    live = running("live-host:42", age=LONG_AGO * 2)  # a long stream of a live process

    assert processes.close_orphaned_sessions() == 1

    assert status(gone) == ("interrupted", "server_restart")
    assert status(live) == ("running", "")
    assert list(ServerProcess.objects.values_list("name", flat=True)) == ["live-host:42"]


def test_a_process_that_never_beat_is_dead_once_its_row_is_older_than_the_stale_period() -> None:
    old = running("old-host:7", age=LONG_AGO)
    new = running("old-host:8")  # it may be starting: its first beat is not due yet

    assert processes.close_orphaned_sessions() == 1

    assert status(old) == ("interrupted", "server_restart")
    assert status(new) == ("running", "")


def test_a_dead_pid_of_this_host_is_closed_at_once_and_this_process_never(settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "HEARTBEAT_S": 0}  # heartbeats off
    dead = running(f"{socket.gethostname()}:{dead_pid()}")
    ours = running(processes.SERVER, age=LONG_AGO)
    elsewhere = running("other-host:9", age=LONG_AGO)  # no heartbeat: cannot be told

    assert processes.close_orphaned_sessions() == 1

    assert status(dead) == ("interrupted", "server_restart")
    assert status(ours) == status(elsewhere) == ("running", "")


def one_pass() -> None:
    """One pass of the heartbeat (its stop already set), in a thread as in a server."""
    stopped = threading.Event()
    stopped.set()
    thread = threading.Thread(target=processes.run_heartbeat, args=(stopped,))
    thread.start()
    thread.join()


@pytest.mark.django_db(transaction=True)  # the heartbeat's thread has its own connection
def test_a_heartbeat_pass_records_this_process_and_closes_the_rows_of_dead_ones() -> None:
    seen("gone-host:41", LONG_AGO)
    ghost = running("gone-host:41")

    one_pass()
    first = ServerProcess.objects.get(name=processes.SERVER).seen_at
    one_pass()

    assert status(ghost) == ("interrupted", "server_restart")
    assert ServerProcess.objects.get(name=processes.SERVER).seen_at > first
    assert not ServerProcess.objects.filter(name="gone-host:41").exists()


def test_no_heartbeat_thread_runs_when_heartbeats_are_off(settings) -> None:
    settings.STREAMING = {**settings.STREAMING, "HEARTBEAT_S": 0}
    before = {t.name for t in threading.enumerate()}

    with processes.heartbeat():
        during = {t.name for t in threading.enumerate()}

    assert "heartbeat" not in during - before
    assert not ServerProcess.objects.exists()
