"""A voicebot conversation: the history the LLM sees, its turns, the cut of an answer to
what the listener heard, and its record, written in the background in order.

``Conversation`` is plain Python (no sockets, no database); ``ConversationRecord`` stores
its state off the latency path.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from voicebot.models import Conversation as ConversationRow

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    """The last answer, kept so that a listener who stops its playback after the stream
    ended can still cut it to what was heard."""

    session_id: uuid.UUID
    full_text: str
    audio_ms: float
    heard_at: Callable[[float], str]  # the answer's words heard by ``played_ms``
    index: int  # its message in the history


@dataclass
class Conversation:
    """One conversation's state: the last ``max_messages`` of history (from a user message
    on; every turn stays in full on its session) and the number of turns."""

    llm_provider: str
    system_prompt: str
    max_messages: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    history: list[dict] = field(default_factory=list)
    turns: int = 0
    last_answer: Answer | None = None

    def ask(self, user_text: str) -> list[dict]:
        """A new turn: the user's words join the history; the messages for the LLM."""
        self.last_answer = None  # the answer before is no longer the one to cut
        self._remember({"role": "user", "content": user_text})
        self.turns += 1
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, *self.history]

    def answered(self, session_id: uuid.UUID, heard: str, *, audio_ms: float,
                 heard_at: Callable[[float], str]) -> None:
        """The answer as far as it was heard joins the history (nothing when none was)."""
        self.last_answer = None
        if heard:
            index = self._remember({"role": "assistant", "content": heard})
            self.last_answer = Answer(session_id, heard, audio_ms, heard_at, index)

    def cut_last_answer(self, played_ms: float) -> tuple[uuid.UUID, str] | None:
        """The listener stopped the last answer at ``played_ms``: cut it in the history to
        what was heard; its session and heard text, or None when nothing changed."""
        answer, self.last_answer = self.last_answer, None
        if answer is None or played_ms >= answer.audio_ms:  # heard to the end
            return None
        heard = answer.heard_at(played_ms)
        if heard:
            self.history[answer.index]["content"] = heard
        else:
            del self.history[answer.index]
        return answer.session_id, heard

    def _remember(self, message: dict) -> int:
        self.history.append(message)
        excess = len(self.history) - self.max_messages
        if excess > 0:
            del self.history[:excess]
            while len(self.history) > 1 and self.history[0]["role"] != "user":
                del self.history[0]
        return len(self.history) - 1

    def snapshot(self) -> dict:
        """The record's fields, as of now."""
        return {"llm_provider": self.llm_provider, "system_prompt": self.system_prompt,
                "history": [dict(m) for m in self.history], "turns": self.turns}


@database_sync_to_async
def _save(conversation_id: uuid.UUID, fields: dict) -> None:
    ConversationRow.objects.update_or_create(id=conversation_id, defaults=fields)


class ConversationRecord:
    """Writes a conversation's state in the background, one write after the other (so the
    last state wins); ``saved`` is the latest write, for a row that must come after it."""

    def __init__(self) -> None:
        self.saved: asyncio.Task | None = None

    def save(self, conversation: Conversation) -> Awaitable[None]:
        """Queue a write of the conversation as it is now; returns the write."""
        self.saved = asyncio.create_task(self._write(self.saved, conversation.id,
                                                     conversation.snapshot()))
        return self.saved

    @staticmethod
    async def _write(before: asyncio.Task | None, conversation_id: uuid.UUID,
                     fields: dict) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        try:
            await _save(conversation_id, fields)
        except Exception:
            logger.exception("could not save conversation %s", conversation_id)
