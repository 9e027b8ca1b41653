"""Live monitor across server processes, over the channel layer.

Stream consumers publish their sessions' start, progress and end to the ``MONITOR_GROUP``
and listen on the ``STREAMS_GROUP`` for stop requests. The staff-only ``MonitorConsumer``
relays the events to the admin's live page (its view is ``streaming.admin.monitor``) and
sends stops, which reach the consumer running the session wherever it runs (with
channels-redis, on any process).
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import BaseChannelLayer

from streaming.models import StreamSession
from streaming.processes import SERVER, close_orphaned_sessions_once

logger = logging.getLogger(__name__)

MONITOR_GROUP = "streaming.monitor"
STREAMS_GROUP = "streaming.streams"
PROGRESS_INTERVAL_S = 1.0
RESYNC_S = 10.0  # a fresh snapshot: what a full channel dropped is right again after this
_pending: set[asyncio.Task] = set()
_watched_until = 0.0  # this process publishes progress until then (a monitor is watching)


def watch_for(seconds: float) -> None:
    """A monitor is watching (somewhere): publish progress for ``seconds``."""
    global _watched_until
    _watched_until = max(_watched_until, time.monotonic() + seconds)


def watched() -> bool:
    """Is a monitor watching, so that progress is worth publishing?"""
    return time.monotonic() < _watched_until


class SessionPublisher:
    """Publishes one stream's life to the monitors, never delaying the stream itself."""

    def __init__(self, layer: BaseChannelLayer | None, session_id: uuid.UUID, info: dict) -> None:
        self.layer = layer
        self.session_id = str(session_id)
        self.info = info
        self._last_progress = 0.0

    def publish(self, event_type: str, **data: object) -> None:
        """Send an event to the monitor group in the background."""
        if self.layer is None:
            return
        event = {"type": event_type, "session_id": self.session_id, "server": SERVER, **data}
        task = asyncio.create_task(self._send(event))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    def started(self) -> None:
        """The stream has been announced."""
        self.publish("start", **self.info)

    def progress(self, event: dict) -> None:
        """A progress event of the stream (forwarded at most once a second)."""
        now = time.monotonic()
        if watched() and now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.publish("progress", audio_ms=event.get("audio_ms"),
                         synth_ms=event.get("synth_ms"), text_chars=event.get("text_chars"),
                         tts_percent=event.get("tts_percent"))

    def ended(self, status: str, metrics: dict) -> None:
        """The stream has ended and its record is saved."""
        self.publish("end", status=status, ttfa_ms=metrics.get("ttfa_ms"),
                     total_ms=metrics.get("total_ms"))

    async def _send(self, event: dict) -> None:
        try:
            await self.layer.group_send(MONITOR_GROUP, {"type": "monitor.event", "event": event})
        except Exception:  # the monitor is best effort: a stream never fails because of it
            logger.warning("could not publish %s of session %s", event["type"], self.session_id,
                           exc_info=True)


@database_sync_to_async
def running_channel(session_id: str) -> str:
    """The channel of the connection running ``session_id`` ("" when it is not running)."""
    row = StreamSession.objects.filter(id=session_id, status=StreamSession.Status.RUNNING)
    return row.values_list("channel", flat=True).first() or ""


async def request_stop(layer: BaseChannelLayer, session_id: str) -> bool:
    """Ask the consumer that runs ``session_id`` (on whichever process) to stop it; False
    when no running session has that id."""
    channel = await running_channel(session_id)
    if channel:
        await layer.send(channel, {"type": "stream.stop", "session_id": session_id})
    return bool(channel)


async def announce_watching(layer: BaseChannelLayer) -> None:
    """Tell every stream connection that a monitor watches (for three resync periods): this
    process at once, the others through their connections (a process with none yet learns
    at the next announcement, within ``RESYNC_S``)."""
    watch_for(3 * RESYNC_S)
    await layer.group_send(STREAMS_GROUP, {"type": "monitor.watching",
                                           "seconds": 3 * RESYNC_S})


@database_sync_to_async
def live_sessions() -> list[dict]:
    """Sessions recorded as running (all processes share the database; the rows of dead
    processes are closed by ``streaming.processes``)."""
    rows = (StreamSession.objects.filter(status=StreamSession.Status.RUNNING)
            .order_by("-created_at")
            .values("id", "kind", "tts_provider", "voice", "llm_provider", "created_at")[:200])
    return [{**row, "id": str(row["id"]), "created_at": row["created_at"].isoformat()}
            for row in rows]


class MonitorConsumer(AsyncJsonWebsocketConsumer):
    """``/api/monitor/ws``: live sessions of every process, for staff allowed to see
    sessions; those with the stop permission can stop one."""

    async def connect(self) -> None:
        """Active staff with the view permission on sessions; starts with the sessions
        running now. Stopping one needs the ``stop_streamsession`` permission too."""
        user = self.scope.get("user")
        allowed = user is not None and user.is_active and user.is_staff
        if allowed:
            allowed, self.can_stop = await database_sync_to_async(permissions)(user)
        if not allowed:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(MONITOR_GROUP, self.channel_name)
        await self.accept()
        await close_orphaned_sessions_once()  # no ghosts of a killed process in the list
        await announce_watching(self.channel_layer)
        await self.send_snapshot()
        self.resync = asyncio.create_task(self.resync_every(RESYNC_S))

    async def send_snapshot(self) -> None:
        """The sessions running now, from the database (every process writes there)."""
        await self.send_json({"type": "snapshot", "server": SERVER, "can_stop": self.can_stop,
                              "sessions": await live_sessions()})

    async def resync_every(self, interval_s: float) -> None:
        """Events are best effort (a Redis channel at capacity drops them, silently): a
        snapshot every ``interval_s`` puts the page right."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await announce_watching(self.channel_layer)
                await self.send_snapshot()
            except Exception:
                logger.warning("the monitor could not send a snapshot", exc_info=True)

    async def disconnect(self, code: int) -> None:
        """Stop listening."""
        resync = getattr(self, "resync", None)
        if resync is not None:
            resync.cancel()
        await self.channel_layer.group_discard(MONITOR_GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None
                      ) -> None:
        """JSON commands only."""
        if text_data is None:
            await self.send_json({"type": "error", "message": "binary frames are not accepted"})
            return
        await super().receive(text_data=text_data)

    async def receive_json(self, content: object, **kwargs: object) -> None:
        """``{"type": "stop", "session_id"}`` stops a live session."""
        if not isinstance(content, dict) or content.get("type") != "stop":
            await self.send_json({"type": "error", "message": 'expected {"type": "stop", ...}'})
            return
        try:
            session_id = str(uuid.UUID(str(content.get("session_id"))))
        except ValueError:
            await self.send_json({"type": "error", "message": "session_id is not a session id"})
            return
        if not self.can_stop:
            await self.send_json({"type": "error", "message": "you may watch sessions but "
                                  "not stop them (permission: stop live sessions)"})
            return
        if not await request_stop(self.channel_layer, session_id):
            await self.send_json({"type": "error", "message": "no running session has that id"})
            return
        await self.send_json({"type": "stop_sent", "session_id": session_id})

    async def decode_json(self, text_data: str) -> object:
        """Malformed JSON becomes an error reply, not a crash."""
        try:
            return await super().decode_json(text_data)
        except (ValueError, RecursionError):
            return None

    async def monitor_event(self, message: dict) -> None:
        """Relay a stream's event to the page."""
        await self.send_json(message["event"])


def permissions(user: object) -> tuple[bool, bool]:
    """May ``user`` watch live sessions, and stop them?"""
    return (user.has_perm("streaming.view_streamsession"),
            user.has_perm("streaming.stop_streamsession"))
