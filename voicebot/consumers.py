"""The voicebot endpoint: typed or spoken turns, answered by the LLM streamed into speech."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from streaming import services
from streaming.consumers import (
    NUMBER,
    ActiveStream,
    ProtocolError,
    StreamingConsumer,
    get_field,
    refused_providers,
)
from streaming.engine import COMPLETED, StreamResult
from streaming.protocols import ProviderError, logged_error
from streaming.providers import UnknownProvider, default_alias, get_provider, providers
from voicebot.conversation import Conversation, ConversationRecord
from voicebot.floor import ContinuousListening

logger = logging.getLogger(__name__)
SAMPLE_RATES = range(8000, 48001)


def provider(role: str, alias: str) -> object:
    """A provider for a turn; configuration problems become ``error`` events."""
    with refused_providers():
        return get_provider(role, alias)


def llm_info(alias: str) -> dict:
    """How the page presents the conversation's LLM: its alias, label and hint (an adapter
    that knows its model's name, like the local one, labels itself)."""
    info = next((p for p in providers("llm", include_hidden=True) if p.alias == alias), None)
    try:
        label = get_provider("llm", alias).label
    except (UnknownProvider, ImproperlyConfigured):
        label = None
    return {"llm": alias, "llm_label": label or (info.label if info else alias),
            "llm_hint": info.hint if info else ""}


class VoicebotConsumer(ContinuousListening, StreamingConsumer, AsyncWebsocketConsumer):
    """``/api/voicebot/streaming``: a conversation, one stream per answer, with barge-in;
    turns typed, spoken with push-to-talk (``audio_start`` ... ``audio_end``), or decided
    by the server on a continuous microphone stream (``listen_start``)."""

    kind = "voicebot"

    async def connect(self) -> None:
        """Accept, and announce a new conversation."""
        await super().connect()
        self.llm_alias = default_alias("llm")
        self.preferences: tuple[str | None, str | None] = (None, None)
        self.capture: bytearray | None = None
        self.capture_rate = 16000
        self.turn_task: asyncio.Task | None = None
        self.init_listening()
        await self.new_conversation()

    async def end_connection(self) -> None:
        """Stop listening, transcription and the answer; they leave their records."""
        await self.stop_listening()
        await self.interrupt("disconnected")

    async def new_conversation(self) -> None:
        """Forget the history; the next turn starts a new conversation record."""
        self.conversation = Conversation(
            self.llm_alias, settings.VOICEBOT["SYSTEM_PROMPT"],
            max_messages=settings.VOICEBOT["MAX_HISTORY_MESSAGES"])
        self.record = ConversationRecord()
        await self.send_event({"type": "conversation",
                               "conversation_id": str(self.conversation.id),
                               **llm_info(self.llm_alias)})

    async def interrupt(self, reason: str, played_ms: float | None = None) -> None:
        """Barge-in: stop a transcription in progress and the running answer."""
        task = self.turn_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.stop_stream(reason, played_ms=played_ms)

    # --- turns ----------------------------------------------------------------------------
    async def on_start(self, msg: dict) -> None:
        """Choose the voice for the next answers; with ``text``, also take a typed turn."""
        self.preferences = (get_field(msg, "tts", str, required=False),
                            get_field(msg, "voice", str, required=False))
        if msg.get("text") is not None:
            await self.on_user_text(msg)

    async def on_user_text(self, msg: dict) -> None:
        """A typed turn (barges in on a running answer)."""
        text = get_field(msg, "text", str).strip()
        if not text:
            raise ProtocolError("empty_text", "the message is empty")
        self.check_text_length(len(text))
        tts, voice = self.turn_preferences(msg)
        self.admit_stream()
        await self.interrupt("barge_in")
        self.speech_ended_at = None  # typed: no speech to answer in time
        await self.begin_turn(text, tts=tts, voice=voice)

    async def on_audio_start(self, msg: dict) -> None:
        """A spoken turn begins: PCM frames follow (barges in on a running answer)."""
        rate = get_field(msg, "sample_rate", int)
        if rate not in SAMPLE_RATES:
            raise ProtocolError("bad_field", "'sample_rate' must be 8000 to 48000 Hz")
        self.preferences = self.turn_preferences(msg)
        await self.interrupt("barge_in")
        self.capture = bytearray()
        self.capture_rate = rate

    async def on_listen_start(self, msg: dict) -> None:
        """Continuous microphone audio follows, at ``sample_rate``: the server decides the
        turns (and the barge-ins) until ``listen_stop``."""
        rate = get_field(msg, "sample_rate", int)
        if rate not in SAMPLE_RATES:
            raise ProtocolError("bad_field", "'sample_rate' must be 8000 to 48000 Hz")
        self.preferences = self.turn_preferences(msg)
        self.capture = None
        await self.listen(rate)

    async def listen(self, rate: int) -> None:
        """Listen continuously at ``rate`` Hz with the default STT."""
        alias = default_alias("stt")
        await self.start_listening(rate, alias, provider("stt", alias))

    async def on_listen_stop(self, msg: dict) -> None:
        """No more continuous audio (an utterance in progress is dropped)."""
        await self.stop_listening()

    async def receive_audio(self, data: bytes) -> None:
        """Microphone PCM: between ``audio_start`` and ``audio_end`` (push-to-talk), or
        continuously after ``listen_start``."""
        if self.capture is None and self.listener is not None:
            await self.listener.feed(data)
            return
        if self.capture is None:
            raise ProtocolError("unexpected_binary", 'send {"type": "audio_start"} (or '
                                                     '"listen_start") before audio')
        limit_s = settings.VOICEBOT["MAX_AUDIO_SECONDS"]
        if len(self.capture) + len(data) > limit_s * self.capture_rate * 2:
            self.capture = None
            raise ProtocolError("audio_too_long",
                                f"a spoken turn may last {limit_s} s at most; it was dropped")
        self.capture += data

    async def on_audio_end(self, msg: dict) -> None:
        """The spoken turn is complete: transcribe it and answer, in a task of its own."""
        if self.capture is None:
            raise ProtocolError("no_audio", 'send {"type": "audio_start"} and audio first')
        pcm, self.capture = bytes(self.capture[: len(self.capture) // 2 * 2]), None
        min_ms = settings.VOICEBOT["MIN_AUDIO_MS"]
        if len(pcm) < min_ms * self.capture_rate * 2 // 1000:
            raise ProtocolError("audio_too_short", f"a spoken turn needs {min_ms} ms of audio")
        stt_alias = default_alias("stt")
        stt = provider("stt", stt_alias)
        self.admit_stream()
        self.turn_task = asyncio.create_task(
            self.spoken_turn(stt, stt_alias, pcm, self.capture_rate), name="stream-stt")

    async def spoken_turn(self, stt: object, stt_alias: str, pcm: bytes, rate: int) -> None:
        """Transcribe, tell the client what was heard, and answer it."""
        started = time.monotonic()  # the end of the user's speech: the turn's response time
        try:
            heard = await stt.transcribe(pcm, sample_rate=rate)
            text = heard.strip()
        except ProviderError as exc:
            await self.turn_failed("provider_error", str(exc), stt_alias, started)
            return
        except Exception as exc:  # a bug: the turn still ends with an error the page shows
            message = logged_error("transcription failed", exc)
            await self.turn_failed("internal_error", message, stt_alias, started)
            return
        stt_ms = round((time.monotonic() - started) * 1000, 3)
        words = [[w.text, w.start_ms, w.end_ms] for w in getattr(heard, "words", ())]
        await self.send_event({"type": "transcript", "text": text, "stt_ms": stt_ms,
                               "words": words})
        if not text:
            await self.send_error("no_speech", "no speech was recognized; please try again")
            return
        tts, voice = self.preferences
        self.speech_ended_at = started
        try:
            await self.begin_turn(text, tts=tts, voice=voice, stt_alias=stt_alias, stt_ms=stt_ms)
        except ProtocolError as err:
            await self.send_error(err.code, str(err))

    async def turn_failed(self, code: str, message: str, stt_alias: str,
                          started: float) -> None:
        """A spoken turn failed before its answer: the turn gets a ``failed`` session record,
        then the client the error (without a session: the page ends the turn it waits for)."""
        session_id = uuid.uuid4()
        stt_ms = round((time.monotonic() - started) * 1000, 3)
        try:
            await services.record_failed_session(
                session_id, error=message, end_reason="stt_failed", kind=self.kind,
                tts_provider=self.preferences[0] or default_alias("tts"))
            await self.record.add_turn(session_id, None, self.conversation, number=None,
                                       stt_provider=stt_alias, stt_ms=stt_ms)
        except Exception:  # the client still hears of it
            logger.exception("could not record a failed turn")
        await self.send_error(code, message)

    def turn_preferences(self, msg: dict) -> tuple[str | None, str | None]:
        """The TTS provider and voice of a turn: the message's, else the last chosen."""
        tts = get_field(msg, "tts", str, required=False)
        voice = get_field(msg, "voice", str, required=False)
        return (tts or self.preferences[0], voice or (None if tts else self.preferences[1]))

    async def begin_turn(self, user_text: str, *, tts: str | None, voice: str | None,
                         stt_alias: str = "", stt_ms: float | None = None) -> None:
        """Add the user's words to the history and stream the LLM's answer into speech."""
        llm = provider("llm", self.llm_alias)
        await self.resolve_tts(tts, voice)  # refuse a bad provider or voice before the history
        messages = self.conversation.ask(user_text)
        self.record.save(self.conversation)  # in the background: the stream starts now
        stream = await self.start_stream(llm.stream(messages), tts_alias=tts, voice=voice,
                                         llm_provider=self.llm_alias,
                                         announce={"llm": self.llm_alias})
        self.record.add_turn(stream.session_id, stream.created, self.conversation,
                             number=self.conversation.turns, user_text=user_text,
                             stt_provider=stt_alias, stt_ms=stt_ms)

    # --- answers and barge-in -------------------------------------------------------------
    def heard(self, stream: ActiveStream, result: StreamResult) -> str:
        """The answer as far as the listener heard it."""
        if result.status == COMPLETED:
            return result.input_text.strip()
        played = stream.played_ms if stream.played_ms is not None else stream.engine.audio_sent_ms
        return result.heard_text(played, stream.engine.sample_rate)

    async def stream_saved(self, stream: ActiveStream, result: StreamResult) -> None:
        """The turn also stores the heard part of the answer."""
        await self.record.update_turn(stream.session_id, heard_text=self.heard(stream, result))

    async def send_audio(self, frame: bytes) -> None:
        """An answer's audio frame (its first one times the turn's response)."""
        if self.stream is not None and self.stream.engine.audio_sent_ms == 0:
            self.note_first_audio()
        await super().send_audio(frame)

    async def stream_finished(self, stream: ActiveStream, result: StreamResult) -> None:
        """Keep the heard answer in the history; tell the client if it was cut."""
        self.remember_answer(stream, result)
        heard = self.heard(stream, result)
        rate = stream.engine.sample_rate
        self.conversation.answered(stream.session_id, heard,
                                   audio_ms=result.metrics["audio_ms"],
                                   heard_at=lambda ms: result.heard_text(ms, rate))
        await self.record.save(self.conversation)  # before `done`: then the record is final
        if result.status != COMPLETED:
            await self.send_event({"type": "truncated", "heard_text": heard}, stream.session_id)

    async def on_cancel(self, msg: dict) -> None:
        """Stop now; after an answer's end, cut its history to what was played."""
        played_ms = get_field(msg, "played_ms", NUMBER, required=False)
        ending = self.stream
        if ending is not None and ending.engine.result is not None:  # it has ended and is
            await asyncio.shield(ending.task)  # being settled: cut it after, if need be
        if self.stream is not None or (self.turn_task and not self.turn_task.done()):
            await self.interrupt("client", played_ms=played_ms)
        elif played_ms is not None:
            await self.truncate_last_answer(played_ms)

    async def truncate_last_answer(self, played_ms: float) -> None:
        """The listener stopped the last answer's playback after the stream ended."""
        cut = self.conversation.cut_last_answer(played_ms)
        if cut is None:
            return
        session_id, heard = cut
        await asyncio.gather(self.record.save(self.conversation),
                             self.record.update_turn(session_id, heard_text=heard),
                             services.record_played(session_id, played_ms))
        await self.send_event({"type": "truncated", "heard_text": heard}, session_id)

    async def on_reset(self, msg: dict) -> None:
        """Start a new conversation."""
        await self.interrupt("reset")
        self.capture = None
        await self.new_conversation()
