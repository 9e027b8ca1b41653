"""Conversations and their turns: the history the LLM saw, and what each turn's session
(a ``streaming.StreamSession``, the answer's stream) does not know about the conversation."""
from __future__ import annotations

import uuid

from django.db import models


class Conversation(models.Model):
    """One voicebot conversation; its turns point to it.

    ``history`` is what the LLM sees on the next turn: the last
    ``VOICEBOT_MAX_HISTORY_MESSAGES`` user and assistant messages, the assistant's truncated
    to what the listener heard when they barged in (so its size is bounded; every turn stays
    in full: ``Turn.user_text`` and ``heard_text``, the session's ``input_text``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    llm_provider = models.CharField(max_length=32)
    system_prompt = models.TextField(blank=True)
    history = models.JSONField(default=list, blank=True)
    turns = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Conversation {self.id} ({self.turns} turns)"


class Turn(models.Model):
    """One turn of a conversation: the user's words, how they were heard (STT), and the
    answer as far as the listener heard it. Its session holds the answer's stream."""

    session = models.OneToOneField("streaming.StreamSession", primary_key=True,
                                   on_delete=models.CASCADE, related_name="voicebot_turn")
    conversation = models.ForeignKey(Conversation, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="turn_records")
    number = models.PositiveIntegerField(null=True, blank=True,
                                         help_text="1 for the first turn (none when its "
                                                   "transcription failed).")
    user_text = models.TextField(blank=True, help_text="The user's turn (typed or heard).")
    heard_text = models.TextField(blank=True,
                                  help_text="The answer as far as the listener heard it.")
    stt_provider = models.CharField(max_length=32, blank=True,
                                    help_text="Empty for a typed turn.")
    stt_ms = models.FloatField(null=True, blank=True, help_text="Transcription time.")
    # Turn-taking on a continuous microphone stream (voicebot.listening).
    speech_end_to_audio_ms = models.FloatField(
        null=True, blank=True,
        help_text="Voice to voice: from the end of the user's speech (or of "
                  "push-to-talk) to the answer's first audio sent.")
    barge_in_stop_ms = models.FloatField(
        null=True, blank=True,
        help_text="The user spoke over this answer: from the start of their speech to its "
                  "audio stopped.")
    false_interruptions = models.PositiveIntegerField(
        default=0, help_text="Times this answer stopped for a noise or its own echo, then "
                             "went on from where it was cut.")

    class Meta:
        ordering = ["conversation", "number"]

    def __str__(self) -> str:
        return f"Turn {self.number or '?'} of {self.conversation_id}"
