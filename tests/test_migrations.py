"""Schema moves keep the data: the voicebot's columns on the session become its ``Turn``."""
from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("streaming", "0005_session_channel"), ("voicebot", "0001_initial")]
AFTER = [("streaming", "0006_turn_columns_to_voicebot"), ("voicebot", "0002_turn")]


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    """Migrate to ``targets``; the executor's state gives the models as of then."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.fixture
def old_schema():
    """The schema before the move; the latest one again afterwards, whatever happened."""
    executor = migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    latest = [key for key in executor.loader.graph.leaf_nodes()
              if key[0] in ("streaming", "voicebot")]
    migrate(latest)


def test_turn_columns_move_to_voicebot_turns_and_back(old_schema) -> None:
    Session = old_schema.get_model("streaming", "StreamSession")
    Conversation = old_schema.get_model("voicebot", "Conversation")
    conversation = Conversation.objects.create(llm_provider="local", turns=2)
    spoken = Session.objects.create(
        id=uuid.uuid4(), kind="voicebot", tts_provider="piper", conversation=conversation,
        turn=2, user_text="What is the time?", heard_text="It is noon", stt_provider="whisper",
        stt_ms=312.5)
    failed = Session.objects.create(id=uuid.uuid4(), kind="voicebot", tts_provider="piper",
                                    stt_provider="whisper", stt_ms=40.0, status="failed")
    tts = Session.objects.create(id=uuid.uuid4(), kind="tts", tts_provider="piper",
                                 input_text="Hello.")

    apps = migrate(AFTER).loader.project_state(AFTER).apps
    Turn = apps.get_model("voicebot", "Turn")

    turns = {t.session_id: t for t in Turn.objects.all()}
    assert set(turns) == {spoken.id, failed.id}  # a TTS session is no turn
    moved = turns[spoken.id]
    assert (moved.conversation_id, moved.number, moved.user_text, moved.heard_text,
            moved.stt_provider, moved.stt_ms) == (conversation.id, 2, "What is the time?",
                                                  "It is noon", "whisper", 312.5)
    assert (turns[failed.id].conversation_id, turns[failed.id].stt_ms) == (None, 40.0)
    columns = {c.name for c in connection.introspection.get_table_description(
        connection.cursor(), "streaming_streamsession")}
    assert not columns & {"conversation_id", "turn", "user_text", "heard_text",
                          "stt_provider", "stt_ms"}
    assert apps.get_model("streaming", "StreamSession").objects.get(id=tts.id).input_text

    Session = migrate(BEFORE).loader.project_state(BEFORE).apps.get_model(
        "streaming", "StreamSession")
    back = Session.objects.get(id=spoken.id)
    assert (back.conversation_id, back.turn, back.user_text, back.heard_text,
            back.stt_provider, back.stt_ms) == (conversation.id, 2, "What is the time?",
                                                "It is noon", "whisper", 312.5)
