"""``prune_sessions``: old sessions and their audio go, new ones stay; audio-only; dry run."""
from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from streaming.audio import pcm_to_wav
from streaming.models import SegmentRecord, StreamSession
from voicebot.models import Conversation, Turn

pytestmark = pytest.mark.django_db


def make(days_old: float, *, audio: bool = True,
         conversation: Conversation | None = None) -> StreamSession:
    """A completed session created ``days_old`` days ago, with two segments and a WAV (a
    turn of ``conversation`` when given)."""
    session = StreamSession.objects.create(kind="voicebot" if conversation else "tts",
                                           status="completed", tts_provider="piper")
    if conversation is not None:
        Turn.objects.create(session=session, conversation=conversation)
    SegmentRecord.objects.bulk_create(
        SegmentRecord(session=session, index=i, text=f"segment {i}", cut_ms=10.0 * i)
        for i in range(2)
    )
    if audio:
        session.audio.save(f"{session.pk}.wav", ContentFile(pcm_to_wav(b"\0\0" * 100, 16000)))
    created = timezone.now() - dt.timedelta(days=days_old)
    StreamSession.objects.filter(pk=session.pk).update(created_at=created)
    session.refresh_from_db()
    return session


def exists(session: StreamSession) -> bool:
    return session.audio.storage.exists(session.audio.name)


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_sessions", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def sessions() -> tuple[StreamSession, StreamSession, StreamSession]:
    """Old (40 days) with audio, old without audio, new (2 days) with audio."""
    return make(40), make(35, audio=False), make(2)


def test_deletes_old_sessions_and_their_audio(sessions) -> None:
    old, _, new = sessions

    output = prune("--older-than", "30")

    assert "Deleted 2 sessions (4 segments, 1 audio files)" in output
    assert list(StreamSession.objects.all()) == [new]
    assert not exists(old) and exists(new)
    assert SegmentRecord.objects.count() == 2


def test_default_retention_comes_from_settings(settings, sessions) -> None:
    _, old_silent, new = sessions
    settings.STREAMING = {**settings.STREAMING, "RETENTION_DAYS": 38}

    output = prune()

    assert "(38 days)" in output and "Deleted 1 sessions" in output
    assert set(StreamSession.objects.all()) == {old_silent, new}


def test_retention_defaults_to_30_days(settings, sessions) -> None:
    settings.STREAMING = {k: v for k, v in settings.STREAMING.items() if k != "RETENTION_DAYS"}
    assert "(30 days)" in prune()
    assert list(StreamSession.objects.all()) == [sessions[2]]


def test_audio_only_keeps_the_rows(sessions) -> None:
    old, _, new = sessions
    name = old.audio.name

    output = prune("--older-than", "30", "--audio-only")

    assert "Deleted 1 audio files" in output
    assert StreamSession.objects.count() == 3 and SegmentRecord.objects.count() == 6
    old.refresh_from_db()
    assert not old.audio and not new.audio.storage.exists(name)  # the old file is gone
    assert exists(new)


def test_dry_run_changes_nothing(sessions) -> None:
    old, _, new = sessions

    output = prune("--older-than", "30", "--dry-run")
    assert "Would delete 2 sessions (4 segments, 1 audio files)" in output
    assert "dry run" in output
    audio_output = prune("--older-than", "30", "--audio-only", "--dry-run")
    assert "Would delete 1 audio files" in audio_output

    assert StreamSession.objects.count() == 3 and SegmentRecord.objects.count() == 6
    assert exists(old) and exists(new)
    old.refresh_from_db()
    assert old.audio


def test_conversations_left_without_sessions_go_too() -> None:
    stale = Conversation.objects.create(llm_provider="rules", turns=1)
    active = Conversation.objects.create(llm_provider="rules", turns=2)
    make(40, conversation=stale, audio=False)
    make(40, conversation=active, audio=False)
    make(1, conversation=active, audio=False)
    Conversation.objects.update(updated_at=timezone.now() - dt.timedelta(days=40))

    assert "and 1 conversations" in prune("--older-than", "30", "--dry-run")
    assert Conversation.objects.count() == 2
    output = prune("--older-than", "30")

    assert "and 1 conversations" in output
    assert list(Conversation.objects.all()) == [active]
    assert Turn.objects.count() == 1  # the old sessions' turns went with them


def test_batches(sessions, monkeypatch) -> None:
    from streaming.management.commands import prune_sessions

    monkeypatch.setattr(prune_sessions, "BATCH_SIZE", 1)
    more = [make(50) for _ in range(3)]
    assert "Deleted 5 sessions (10 segments, 4 audio files)" in prune("--older-than", "30")
    assert not any(exists(s) for s in more)


def test_negative_retention_is_refused() -> None:
    with pytest.raises(CommandError):
        prune("--older-than", "-1")
