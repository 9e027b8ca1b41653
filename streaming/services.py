"""Persistence of stream sessions: every stream leaves a record, whatever its outcome."""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping

from channels.db import database_sync_to_async
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from streaming.audio import pcm_to_wav
from streaming.engine import StreamResult, segment_rows
from streaming.models import SegmentRecord, StreamSession
from streaming.processes import SERVER

logger = logging.getLogger(__name__)

METRIC_FIELDS = (
    "llm_queue_ms", "llm_ttft_ms", "first_segment_ms", "tts_ttfb_ms", "ttfa_ms",
    "overhead_ms", "text_done_ms", "overlap_ms", "total_ms", "audio_ms",
)
MAX_CLIENT_KEYS = 20
MAX_CLIENT_NUMBER = 1e9
CLIENT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
CLIENT_FIELDS = {"playback_start_ms": float, "underruns": int, "played_ms": float}


def _storable_extra(value: object) -> bool:
    """A client metric kept as sent: a bool, a finite number the JSON columns of SQLite
    and PostgreSQL both take, or a short string without NUL or unpaired surrogates."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return abs(value) <= 1e15  # finite, and within what both JSON columns take
    return isinstance(value, str) and len(value) <= 200 and storable(value)


def storable(text: str) -> bool:
    """The database can store it: no NUL character, no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@database_sync_to_async
def create_session(session_id: uuid.UUID, *, kind: str, tts_provider: str, voice: str,
                   sample_rate: int, llm_provider: str = "", channel: str = "",
                   replay_of_id: uuid.UUID | None = None) -> None:
    """Insert the record of a stream that has just started (status ``running``): what
    it is, who speaks it, the connection that runs it (``channel``, for a monitor's stop)
    and the session it replays."""
    StreamSession.objects.create(
        id=session_id, server=SERVER, kind=kind, tts_provider=tts_provider, voice=voice,
        sample_rate=sample_rate, llm_provider=llm_provider, channel=channel,
        replay_of_id=replay_of_id)


@database_sync_to_async
def record_failed_session(session_id: uuid.UUID, *, error: str, end_reason: str,
                          **fields: object) -> None:
    """Insert the record of a stream that failed before it could start (e.g. its turn's
    transcription failed)."""
    StreamSession.objects.create(id=session_id, server=SERVER, error=error,
                                 status=StreamSession.Status.FAILED, end_reason=end_reason,
                                 ended_at=timezone.now(), **fields)


@database_sync_to_async
def finish_session(session_id: uuid.UUID, result: StreamResult, *, sample_rate: int,
                   end_reason: str = "", extra: Mapping[str, object] | None = None,
                   audio: bytes | bytearray | None = None) -> None:
    """Store a finished stream's outcome, metrics, timeline, segments and audio."""
    metrics = result.metrics
    fields: dict[str, object] = {name: metrics[name] for name in METRIC_FIELDS if name in metrics}
    fields.update(
        status=result.status,
        end_reason=end_reason,
        input_text=result.input_text,
        output_text=result.spoken_text,
        error=result.error,
        segment_count=metrics.get("segments", 0),
        bytes_sent=metrics.get("bytes", 0),
        timeline=result.timeline,
        ended_at=timezone.now(),
        **(extra or {}),
    )
    with transaction.atomic():
        updated = StreamSession.objects.filter(id=session_id).update(**fields)
        if not updated:  # the start insert failed or lost a race: keep the outcome anyway
            logger.warning("session %s had no start record; creating it now", session_id)
            StreamSession.objects.create(id=session_id, **fields)
        SegmentRecord.objects.bulk_create(
            SegmentRecord(session_id=session_id, **row)
            for row in segment_rows(result, sample_rate)
        )
    if audio:
        store_audio(session_id, bytes(audio), sample_rate)


@database_sync_to_async
def close_session(session_id: uuid.UUID, *, status: str, end_reason: str, error: str) -> None:
    """The least a record must say when its full outcome could not be saved: that it
    ended, how, and why the rest is missing (so it never stays ``running``)."""
    StreamSession.objects.filter(id=session_id).update(
        status=status, end_reason=end_reason, error=error, ended_at=timezone.now())


def store_audio(session_id: uuid.UUID, pcm: bytes, sample_rate: int) -> None:
    """Save a session's audio as a WAV file in the field's storage (no extra query)."""
    field = StreamSession._meta.get_field("audio")
    name = field.storage.save(field.generate_filename(None, f"{session_id}.wav"),
                              ContentFile(pcm_to_wav(pcm, sample_rate)))
    StreamSession.objects.filter(id=session_id).update(audio=name)


def clean_client_metrics(data: Mapping[str, object]) -> dict[str, object]:
    """The numeric client metrics we keep; raises ``ValueError`` on a bad value."""
    clean: dict[str, object] = {}
    for name, kind in CLIENT_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not 0 <= value <= MAX_CLIENT_NUMBER):
            raise ValueError(f"{name} must be a number from 0 to {MAX_CLIENT_NUMBER:g}")
        clean[name] = kind(value)
    return clean


@database_sync_to_async
def record_client_metrics(session_id: uuid.UUID, data: Mapping[str, object]) -> None:
    """Store what the browser measured (first sound, underruns) on the session."""
    clean = clean_client_metrics(data)
    extra = {
        key: value for key, value in list(data.items())[:MAX_CLIENT_KEYS]
        if key not in ("type", "session_id") and CLIENT_KEY.fullmatch(key)
        and _storable_extra(value)
    }
    StreamSession.objects.filter(id=session_id).update(client_metrics=extra, **clean)


@database_sync_to_async
def record_played(session_id: uuid.UUID, played_ms: float) -> None:
    """Store how much of a session's audio was played (a stop after the stream's end)."""
    StreamSession.objects.filter(id=session_id).update(played_ms=played_ms)


def delete_audio_files(names: Iterable[str]) -> int:
    """Delete stored audio files by name; a missing or undeletable file is logged, not fatal."""
    storage = StreamSession._meta.get_field("audio").storage
    deleted = 0
    for name in names:
        if not name:
            continue
        try:
            if storage.exists(name):
                storage.delete(name)
                deleted += 1
        except OSError:
            logger.exception("could not delete audio file %s", name)
    return deleted


def delete_sessions(queryset: QuerySet) -> tuple[int, int, list[str]]:
    """Delete sessions (their segments cascade); their audio files are left to the caller.

    Returns ``(sessions, segments, audio file names)``: delete the files once the rows are
    gone (after the commit when inside a transaction), so a rollback never leaves a row
    pointing to a deleted file.
    """
    names = [n for n in queryset.order_by().values_list("audio", flat=True) if n]
    _, per_model = queryset.delete()
    return (per_model.get(StreamSession._meta.label, 0),
            per_model.get(SegmentRecord._meta.label, 0), names)
