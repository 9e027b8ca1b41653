"""A voicebot conversation: the history the LLM sees, its turns, the cut of an answer to
what the listener heard, and its records (the conversation's and its turns' rows),
written in the background in order.

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
from voicebot.models import Turn as TurnRow

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


@database_sync_to_async
def _insert_turn(session_id: uuid.UUID, fields: dict) -> None:
    TurnRow.objects.create(session_id=session_id, **fields)


@database_sync_to_async
def _update_turn(session_id: uuid.UUID, fields: dict) -> None:
    TurnRow.objects.filter(session_id=session_id).update(**fields)


class ConversationRecord:
    """Writes a conversation and its turns in the background, each row's writes one after
    the other (so the last state wins) and after the rows they point to; a failed write is
    logged. ``saved`` is the conversation's latest write."""

    KEEP_TURN_WRITES = 4  # the last answer's turn is the only one written again

    def __init__(self) -> None:
        self.saved: asyncio.Task | None = None
        self.turn_writes: dict[uuid.UUID, asyncio.Task] = {}

    def save(self, conversation: Conversation) -> asyncio.Task:
        """Queue a write of the conversation as it is now; returns the write."""
        self.saved = _after([self.saved], f"conversation {conversation.id}", _save,
                            conversation.id, conversation.snapshot())
        return self.saved

    def add_turn(self, session_id: uuid.UUID, session_created: Awaitable | None,
                 conversation: Conversation, *, number: int | None, user_text: str = "",
                 stt_provider: str = "", stt_ms: float | None = None) -> asyncio.Task:
        """Queue the insert of a turn, after its session's row (``session_created``) and
        the conversation's; a conversation never saved (its first turn failed) is not
        linked."""
        fields = {"conversation_id": conversation.id if self.saved else None,
                  "number": number, "user_text": user_text, "stt_provider": stt_provider,
                  "stt_ms": stt_ms}
        return self._turn_write(session_id, _after([self.saved, session_created],
                                                   f"turn {session_id}", _insert_turn,
                                                   session_id, fields))

    def update_turn(self, session_id: uuid.UUID, **fields: object) -> asyncio.Task:
        """Queue an update of a turn (its answer as heard, its turn-taking metrics)."""
        return self._turn_write(session_id, _after([self.turn_writes.get(session_id)],
                                                   f"turn {session_id}", _update_turn,
                                                   session_id, fields))

    def _turn_write(self, session_id: uuid.UUID, write: asyncio.Task) -> asyncio.Task:
        self.turn_writes.pop(session_id, None)
        self.turn_writes[session_id] = write
        while len(self.turn_writes) > self.KEEP_TURN_WRITES:
            del self.turn_writes[next(iter(self.turn_writes))]
        return write


def _after(before: list[Awaitable | None], row: str, write: Callable[..., Awaitable[None]],
           *args: object) -> asyncio.Task:
    """Run ``write(*args)`` in a task once every write in ``before`` has ended."""
    async def run() -> None:
        pending = [b for b in before if b is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await write(*args)
        except Exception:
            logger.exception("could not save %s", row)
    return asyncio.create_task(run())
