"""Server processes, and the sessions a dead one leaves behind.

Every server process says it is alive (``ServerProcess.seen_at``) every
``STREAMING['HEARTBEAT_S']`` from a thread of its own, started with the process (the ASGI
module, and the commands that run streams). Each pass also closes the rows left
``running`` by processes that are gone, as ``interrupted`` (end reason
``server_restart``):

- a process of this host whose pid no longer exists (kill -9, a crash): at once;
- a process of any host whose heartbeat is older than ``STALE_BEATS`` periods, or that
  never beat while its row is that old (a host that never came back).

A process that was only frozen past that comes back to find its rows closed; the streams
it finishes still save their outcome over ``interrupted``.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from streaming.models import ServerProcess, StreamSession

logger = logging.getLogger(__name__)

SERVER = f"{socket.gethostname()}:{os.getpid()}"
"""This server process, as sessions record it (``server``) and the monitor shows it."""
STALE_BEATS = 3
_first_pass_done = threading.Event()


def heartbeat_s() -> float:
    """How often a process says it is alive, in seconds (0: it does not)."""
    return float(settings.STREAMING["HEARTBEAT_S"])


def beat() -> None:
    """Record that this process is alive now."""
    ServerProcess.objects.update_or_create(name=SERVER, defaults={"seen_at": timezone.now()})


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def close_orphaned_sessions() -> int:
    """Close the rows left ``running`` by dead server processes (see the module); returns
    how many. The heartbeats of the processes found dead are deleted."""
    now = timezone.now()
    running = StreamSession.objects.filter(status=StreamSession.Status.RUNNING).exclude(
        server=SERVER)
    host = socket.gethostname()
    dead_here = [row_id for row_id, server in running.filter(server__startswith=f"{host}:")
                 .values_list("id", "server")
                 if (pid := server.rpartition(":")[2]).isdigit() and not _pid_alive(int(pid))]
    dead = Q(id__in=dead_here)
    stale = ServerProcess.objects.none()
    if heartbeat_s() > 0:  # else heartbeats are off: only this host's pids tell
        stale_before = now - timedelta(seconds=STALE_BEATS * heartbeat_s())
        stale = ServerProcess.objects.filter(seen_at__lt=stale_before).exclude(name=SERVER)
        never_beat = ~Exists(ServerProcess.objects.filter(name=OuterRef("server")))
        dead |= Q(server__in=stale.values("name")) | (Q(created_at__lt=stale_before)
                                                      & never_beat)
    closed = running.filter(dead).update(status=StreamSession.Status.INTERRUPTED,
                                         end_reason="server_restart", ended_at=now)
    stale.delete()
    return closed


def _report_closed(closed: int) -> None:
    if closed:
        logger.warning("closed %d session(s) left running by dead server processes", closed)


def run_heartbeat(stop: threading.Event) -> None:
    """Beat and close the rows of dead processes now, then every period until ``stop``."""
    while True:
        try:
            beat()
            _report_closed(close_orphaned_sessions())
            _first_pass_done.set()
        except Exception as exc:  # e.g. not migrated yet, the database away: next period
            logger.warning("server process heartbeat failed: %s", exc)
        finally:
            connection.close()
        if stop.wait(heartbeat_s()):
            return


def start_heartbeat() -> threading.Event:
    """Run :func:`run_heartbeat` in a daemon thread (unless heartbeats are off); set the
    returned event to stop it."""
    stop = threading.Event()
    if heartbeat_s() > 0:
        threading.Thread(target=run_heartbeat, args=(stop,), name="heartbeat",
                         daemon=True).start()
    return stop


@contextmanager
def heartbeat() -> Iterator[None]:
    """This process beats while the block runs (a command that runs streams)."""
    stop = start_heartbeat()
    try:
        yield
    finally:
        stop.set()


async def close_orphaned_sessions_once() -> None:
    """:func:`close_orphaned_sessions`, on a process's first connection unless the
    heartbeat's first pass did it; every later connection returns at once, without a hop
    to the database thread."""
    if _first_pass_done.is_set():
        return
    _first_pass_done.set()
    _report_closed(await database_sync_to_async(close_orphaned_sessions)())
