"""Conversations: the voicebot's turns (sessions) and the history the LLM saw."""
from __future__ import annotations

import uuid

from django.db import models


class Conversation(models.Model):
    """One voicebot conversation; its turns are the sessions that point to it.

    ``history`` is what the LLM sees on the next turn: the last
    ``VOICEBOT_MAX_HISTORY_MESSAGES`` user and assistant messages, the assistant's truncated
    to what the listener heard when they barged in (so its size is bounded; every turn stays
    in full on its session: ``user_text``, ``input_text``, ``heard_text``).
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
