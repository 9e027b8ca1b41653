"""Turns move from the session rows (``streaming.StreamSession``'s voicebot columns) into
``voicebot.Turn``; the columns are dropped after the copy (``streaming`` 0006)."""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ("conversation_id", "turn", "user_text", "heard_text", "stt_provider", "stt_ms")
BATCH = 1000


def has_turn(session) -> bool:
    """A session row that carries any turn data."""
    return bool(session.conversation_id or session.turn or session.user_text
                or session.heard_text or session.stt_provider or session.stt_ms is not None)


def copy_to_turns(apps, schema_editor):
    """One ``Turn`` per session with turn data, in batches."""
    Session = apps.get_model("streaming", "StreamSession")
    Turn = apps.get_model("voicebot", "Turn")
    batch = []
    for session in Session.objects.only("id", *MOVED).iterator(chunk_size=BATCH):
        if not has_turn(session):
            continue
        batch.append(Turn(session_id=session.id, conversation_id=session.conversation_id,
                          number=session.turn, user_text=session.user_text,
                          heard_text=session.heard_text, stt_provider=session.stt_provider,
                          stt_ms=session.stt_ms))
        if len(batch) >= BATCH:
            Turn.objects.bulk_create(batch)
            batch = []
    Turn.objects.bulk_create(batch)


def copy_to_sessions(apps, schema_editor):
    """Back: the turns' data onto their sessions."""
    Session = apps.get_model("streaming", "StreamSession")
    Turn = apps.get_model("voicebot", "Turn")
    for turn in Turn.objects.iterator(chunk_size=BATCH):
        Session.objects.filter(id=turn.session_id).update(
            conversation_id=turn.conversation_id, turn=turn.number, user_text=turn.user_text,
            heard_text=turn.heard_text, stt_provider=turn.stt_provider, stt_ms=turn.stt_ms)


class Migration(migrations.Migration):

    dependencies = [
        ("voicebot", "0001_initial"),
        ("streaming", "0005_session_channel"),
    ]
    # The copy reads the columns streaming 0006 drops; streaming does not name this app.
    run_before = [("streaming", "0006_turn_columns_to_voicebot")]

    operations = [
        migrations.CreateModel(
            name="Turn",
            fields=[
                ("session", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="voicebot_turn", serialize=False, to="streaming.streamsession")),
                ("number", models.PositiveIntegerField(blank=True, help_text="1 for the first turn (none when its transcription failed).", null=True)),
                ("user_text", models.TextField(blank=True, help_text="The user's turn (typed or heard).")),
                ("heard_text", models.TextField(blank=True, help_text="The answer as far as the listener heard it.")),
                ("stt_provider", models.CharField(blank=True, help_text="Empty for a typed turn.", max_length=32)),
                ("stt_ms", models.FloatField(blank=True, help_text="Transcription time.", null=True)),
                ("conversation", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="turn_records", to="voicebot.conversation")),
            ],
            options={
                "ordering": ["conversation", "number"],
            },
        ),
        migrations.RunPython(copy_to_turns, copy_to_sessions, elidable=False),
    ]
