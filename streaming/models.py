"""Session and segment records: one per stream, saved whatever its outcome."""
from __future__ import annotations

import uuid

from django.db import models

# The end reason of every session a replay stored (streaming.replay): with ``replay_of``
# it marks replays, also those whose original has been deleted (``replay_of`` is then null).
REPLAY_END_REASON = "replay"


class StreamSession(models.Model):
    """One stream: providers, text, outcome, latency metrics and timeline.

    What an app knows beyond the stream lives in its own model pointing here (the
    voicebot's ``Turn``: the conversation, the user's words, what was heard).
    """

    class Kind(models.TextChoices):
        TTS = "tts", "TTS"
        VOICEBOT = "voicebot", "Voicebot"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted (its server process died)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices,
                              default=Status.RUNNING, db_index=True)
    end_reason = models.CharField(max_length=32, blank=True,
                                  help_text="Why a stream ended early (client, disconnected, ...).")
    server = models.CharField(max_length=100, blank=True,
                              help_text="host:pid of the server process that ran it.")
    channel = models.CharField(max_length=150, blank=True, editable=False,
                               help_text="The channel-layer channel of the connection that "
                                         "runs it (where a monitor's stop goes).")
    tts_provider = models.CharField(max_length=32, db_index=True)
    voice = models.CharField(max_length=100, blank=True)
    llm_provider = models.CharField(max_length=32, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    input_text = models.TextField(blank=True)
    output_text = models.TextField(blank=True, help_text="Text sent to speech, in order.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    llm_ttft_ms = models.FloatField(null=True, blank=True)
    llm_queue_ms = models.FloatField(
        null=True, blank=True, help_text="Wait for the local model's worker before generating.")
    first_segment_ms = models.FloatField(null=True, blank=True)
    tts_ttfb_ms = models.FloatField(null=True, blank=True)
    ttfa_ms = models.FloatField(null=True, blank=True, db_index=True)
    overhead_ms = models.FloatField(null=True, blank=True)
    text_done_ms = models.FloatField(null=True, blank=True)
    overlap_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    audio_ms = models.FloatField(null=True, blank=True)
    segment_count = models.PositiveIntegerField(default=0)
    bytes_sent = models.PositiveBigIntegerField(default=0)
    playback_start_ms = models.FloatField(null=True, blank=True)
    underruns = models.PositiveIntegerField(null=True, blank=True)
    played_ms = models.FloatField(null=True, blank=True)
    client_metrics = models.JSONField(default=dict, blank=True)
    timeline = models.JSONField(default=list, blank=True)
    fallbacks = models.JSONField(default=list, blank=True,
                                 help_text="TTS provider switches during the stream.")
    audio = models.FileField(upload_to="sessions/%Y/%m/%d/", blank=True,
                             help_text="The audio sent, as WAV (when storing audio is on).")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="replays")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "session"
        permissions = [("stop_streamsession", "Can stop a live session (live monitor)")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.id} ({self.status})"


class SegmentRecord(models.Model):
    """One segment of a session, with its TTS timings (ms from the stream's start)."""

    session = models.ForeignKey(StreamSession, on_delete=models.CASCADE,
                                related_name="segment_records")
    index = models.PositiveIntegerField()
    text = models.TextField()
    spoken = models.TextField(blank=True, help_text="The speakable text sent to TTS.")
    cut_ms = models.FloatField()
    request_ms = models.FloatField(null=True, blank=True)
    first_byte_ms = models.FloatField(null=True, blank=True)
    end_ms = models.FloatField(null=True, blank=True)
    audio_offset_ms = models.FloatField(default=0)
    audio_ms = models.FloatField(default=0)
    bytes = models.PositiveIntegerField(default=0)
    words = models.JSONField(null=True, blank=True,
                             help_text="Each word with when it is said: [text, start_ms, end_ms] "
                                       "from the start of the segment's audio.")

    class Meta:
        ordering = ["session", "index"]
        constraints = [
            models.UniqueConstraint(fields=["session", "index"], name="unique_segment_index"),
        ]
        verbose_name = "segment"

    def __str__(self) -> str:
        return f"#{self.index} {self.text[:40]}"


class ServerProcess(models.Model):
    """A server process that runs streams, and when it last said it was alive: a process
    whose heartbeat stops is gone, and the sessions it left ``running`` are closed
    (``streaming.processes``)."""

    name = models.CharField(max_length=100, primary_key=True, help_text="host:pid")
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "server process"

    def __str__(self) -> str:
        return self.name
