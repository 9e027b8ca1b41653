"""``ContinuousListening``: a voicebot connection whose microphone streams continuously and
whose turns the server decides (the :class:`~voicebot.listening.Floor` of its listener).

A mixin of the voicebot consumers (put it before ``VoicebotConsumer``'s bases). It turns
the listener's decisions into the answer's fate: held, cleared, resumed from the cut,
stopped at what was heard, or a new turn answered; and into events, which each endpoint
words in its own protocol (``send_event``):

- ``listening`` ``{sample_rate}``; ``speech_started``; ``partial`` ``{text}`` (the words so
  far, about every second of speech); ``transcript`` ``{text, stt_ms}`` (a turn);
- ``clear`` ``{session_id}``: drop the answer's queued audio (the user barged in);
  ``resumed`` ``{session_id}``: it was not the user; the answer's audio comes again from
  where it was cut.
"""
from __future__ import annotations

import asyncio
import time

from django.conf import settings

from streaming.consumers import ProtocolError
from streaming.engine import StreamResult
from streaming.protocols import STT
from voicebot.listening import Listener, TurnTaking
from voicebot.vad import silero_loaded, silero_session

ECHO_MEMORY_S = 3.0  # the bot's last answer may still come back this long after it played


class ContinuousListening:
    """Mixin: continuous microphone audio, turns decided by the server."""

    listener: Listener | None = None

    def init_listening(self) -> None:
        """The connection's turn-taking state (nothing listens yet)."""
        self.listener = None
        self.cut_ms: float | None = None  # where the listener dropped the bot's audio
        self.speech_started_at = 0.0
        self.held_at: float | None = None
        self.speech_ended_at: float | None = None  # of the turn being answered
        self.last_said = ("", 0.0)  # the last answer's text, when the listener played it out
        # The last answer after its stream ended: its session, its audio length and when
        # the listener (playing in real time) reaches its end.
        self.tail: tuple[object, float, float] | None = None
        self.tail_cut_ms: float | None = None  # where the listener dropped that tail
        self.false_interruptions = 0  # of the answer being spoken

    async def start_listening(self, rate: int, stt_alias: str, stt: STT) -> None:
        """Listen at ``rate`` Hz with ``stt`` (anew, if it listened already)."""
        await self.stop_listening()
        if not silero_loaded():  # it loads at start; a listen before that waits off the loop
            await asyncio.to_thread(silero_session)
        self.stt_alias = stt_alias
        self.listener = Listener(stt, self, sample_rate=rate,
                                 config=TurnTaking.from_settings(settings.VOICEBOT))
        await self.send_event({"type": "listening", "sample_rate": rate})

    async def stop_listening(self) -> None:
        """Stop listening (an utterance in progress is dropped)."""
        if self.listener is not None:
            listener, self.listener = self.listener, None
            await listener.close()

    def note_first_audio(self) -> None:
        """The running answer's first audio frame is going out: its turn's response time
        (from the end of the user's speech)."""
        stream = self.stream
        if stream is not None and self.speech_ended_at is not None:
            self.record.update_turn(stream.session_id, speech_end_to_audio_ms=round(
                (time.monotonic() - self.speech_ended_at) * 1000, 1))
            self.speech_ended_at = None

    def remember_answer(self, stream: object, result: StreamResult) -> None:
        """What the bot said (to recognise it coming back for a few seconds), and how much
        of it the listener still has to play (a barge-in may still cut it)."""
        engine = stream.engine
        played_out_at = time.monotonic() + (engine.audio_sent_ms - engine.listener_ms) / 1000
        self.last_said = (result.spoken_text, played_out_at)
        self.tail = (stream.session_id, engine.audio_sent_ms, played_out_at)
        self.tail_cut_ms = None

    def tail_position_ms(self) -> float | None:
        """Where the listener is in the last answer's audio, while it still plays it."""
        if self.tail is None:
            return None
        _, audio_ms, ends_at = self.tail
        left = ends_at - time.monotonic()
        return audio_ms - left * 1000 if left > 0 else None

    # --- the listener's floor -------------------------------------------------------------
    def bot_speaking(self) -> bool:
        """An answer is being sent, or the listener is still playing the last one."""
        running = self.stream is not None and self.stream.engine.result is None
        return running or self.tail_position_ms() is not None

    def bot_said(self) -> str:
        """What the bot said lately: the answer being spoken, or the last one until a few
        seconds after the listener played it out (its echo may still come back)."""
        if self.stream is not None and self.stream.engine.result is None:
            return " ".join(s.text for s in self.stream.engine.segments)
        text, ended = self.last_said
        return text if time.monotonic() - ended < ECHO_MEMORY_S else ""

    async def user_started(self) -> None:
        """The user started speaking."""
        await self.send_event({"type": "speech_started"})

    async def partial(self, text: str) -> None:
        """The words of the utterance so far."""
        await self.send_event({"type": "partial", "text": text})

    async def hold(self, *, speech_started_at: float) -> None:
        """Speech over the answer: stop sending its audio."""
        self.speech_started_at = speech_started_at
        self.held_at = time.monotonic()
        if self.stream is not None:
            self.stream.engine.pause()
        await self.send_event({"type": "speech_started"})

    async def barge_in(self) -> None:
        """The speech goes on: the listener drops the answer's queued audio."""
        session_id = await self.clear_answer()
        if session_id is not None:
            stopped = (self.held_at or time.monotonic()) - self.speech_started_at
            self.record.update_turn(session_id, barge_in_stop_ms=round(stopped * 1000, 1))

    async def clear_answer(self) -> object | None:
        """Tell the listener to drop the queued audio of the answer it hears (the running
        one's, or the tail of the last one it still plays), unless it did already; note
        where it was cut. Returns the answer's session id, or ``None`` if none plays."""
        stream = self.stream
        if stream is not None:
            if self.cut_ms is None:
                self.cut_ms = stream.engine.listener_ms
                await self.send_event({"type": "clear"}, stream.session_id)
            return stream.session_id
        position = self.tail_position_ms()
        if position is None:
            return None
        if self.tail_cut_ms is None:
            self.tail_cut_ms = position
            await self.send_event({"type": "clear"}, self.tail[0])
        return self.tail[0]

    async def release(self, *, resume_from_cut: bool) -> None:
        """Not the user: the answer goes on (from where the listener dropped it)."""
        stream = self.stream
        self.held_at = None
        self.tail_cut_ms = None  # a tail dropped for nothing stays whole in the history
        if stream is None or not stream.engine.paused:
            return
        stream.engine.resume(from_ms=self.cut_ms if resume_from_cut else None)
        if resume_from_cut:
            self.false_interruptions += 1
            self.record.update_turn(stream.session_id,
                                    false_interruptions=self.false_interruptions)
            await self.send_event({"type": "resumed"}, stream.session_id)
        self.cut_ms = None

    async def interrupted(self) -> None:
        """Words over the answer: it stops, cut to what the listener heard."""
        await self.stop_answer()

    async def user_turn(self, text: str, *, stt_ms: float, speech_ended_at: float) -> None:
        """A turn: stop the answer in progress (or cut the last one's history where its
        tail was dropped), tell the client, answer."""
        await self.clear_answer()  # a short turn ("yes") did not barge in
        await self.stop_answer()
        if self.tail_cut_ms is not None:
            await self.truncate_last_answer(self.tail_cut_ms)
            self.tail_cut_ms = None
        await self.send_event({"type": "transcript", "text": text, "stt_ms": stt_ms})
        self.speech_ended_at = speech_ended_at
        self.false_interruptions = 0
        tts, voice = self.preferences
        try:
            self.admit_stream()
            await self.begin_turn(text, tts=tts, voice=voice, stt_alias=self.stt_alias,
                                  stt_ms=stt_ms)
        except ProtocolError as err:
            await self.send_error(err.code, str(err))

    async def stop_answer(self) -> None:
        """Stop the running answer at what the listener heard (its cut, if it dropped its
        queue)."""
        if self.stream is None:
            return
        played = self.cut_ms if self.cut_ms is not None else self.stream.engine.listener_ms
        self.cut_ms = self.held_at = None
        await self.stop_stream("barge_in", played_ms=played)
