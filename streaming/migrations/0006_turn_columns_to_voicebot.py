"""The voicebot's columns leave the session: ``voicebot`` 0002 copies them into its
``Turn`` first (it declares ``run_before`` this migration)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("streaming", "0005_session_channel"),
    ]

    operations = [
        migrations.RemoveField(model_name="streamsession", name="conversation"),
        migrations.RemoveField(model_name="streamsession", name="turn"),
        migrations.RemoveField(model_name="streamsession", name="user_text"),
        migrations.RemoveField(model_name="streamsession", name="heard_text"),
        migrations.RemoveField(model_name="streamsession", name="stt_provider"),
        migrations.RemoveField(model_name="streamsession", name="stt_ms"),
    ]
