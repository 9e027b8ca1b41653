"""``/api/voicebot/pcm``: the voicebot over plain PCM, for telephony bridges, headset apps
and voice-agent test harnesses.

After an optional ``{"type": "start", "sample_rate": 16000}`` (8-48 kHz; also ``tts``
and ``voice``), binary frames are mono PCM s16le at that rate in both directions: the
caller streams its microphone continuously and the server decides the turns
(``voicebot.listening``); the answers come back resampled to the caller's rate, paced in
real time. Text frames from the server: ``{"type": "clear"}`` when the caller must drop
the bot audio it has queued (the user barged in), ``{"type": "transcript", "role":
"user"|"agent", "text": ..., "final": true|false}`` and ``error``. Other text frames
from the caller are ignored. Each answer is a session with its turn, as on the page.
"""
from __future__ import annotations

import time
import uuid

from django.conf import settings

from streaming.consumers import ActiveStream, ProtocolError, get_field
from streaming.engine import StreamResult
from streaming.providers import default_alias
from voicebot.consumers import SAMPLE_RATES, VoicebotConsumer, provider
from voicebot.listening import Listener, TurnTaking

ECHO_MEMORY_S = 3.0  # the bot's last answer may still come back through the room this long
DEFAULT_RATE = 16000


class PcmVoicebotConsumer(VoicebotConsumer):
    """Continuous PCM in, the bot's PCM out; the listener's :class:`~voicebot.listening.
    Floor` (its decisions become ``clear``, held, resumed and stopped answers)."""

    async def connect(self) -> None:
        """Accept; listen at 16 kHz until a ``start`` says otherwise."""
        self.rate = DEFAULT_RATE
        self.listener: Listener | None = None
        self.out_resampler: tuple[uuid.UUID, object] | None = None
        self.cut_ms: float | None = None  # where the caller dropped the bot's audio
        self.speech_started_at = 0.0
        self.held_at: float | None = None
        self.speech_ended_at: float | None = None  # of the turn being answered
        self.last_said = ("", 0.0)  # the last answer's text, and when its stream ended
        self.false_interruptions = 0  # of the answer being spoken
        await super().connect()

    async def end_connection(self) -> None:
        """Stop listening, then the answer (its record is saved)."""
        if self.listener is not None:
            await self.listener.close()
        await super().end_connection()

    # --- the caller's frames --------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Audio goes to the listener; of the text frames, only ``start`` counts."""
        if text_data is not None:
            try:
                kind = self.decode(text_data)["type"]
            except ProtocolError as err:
                if err.code != "unknown_type":
                    await self.send_error(err.code, str(err))
                return
            if kind != "start":
                return
        await super().receive(text_data, bytes_data)

    async def on_start(self, msg: dict) -> None:
        """The caller's sample rate (and optionally the voice); listening starts anew."""
        rate = get_field(msg, "sample_rate", int, required=False) or DEFAULT_RATE
        if rate not in SAMPLE_RATES:
            raise ProtocolError("bad_field", "'sample_rate' must be 8000 to 48000 Hz")
        self.preferences = self.turn_preferences(msg)
        if self.listener is not None:
            await self.listener.close()
        self.rate = rate
        self.listener = self.new_listener()

    async def receive_audio(self, data: bytes) -> None:
        """Microphone PCM, continuously."""
        if self.listener is None:
            self.listener = self.new_listener()
        await self.listener.feed(data)

    def new_listener(self) -> Listener:
        """A listener at the caller's rate, with the default STT."""
        self.stt_alias = default_alias("stt")
        return Listener(provider("stt", self.stt_alias), self, sample_rate=self.rate,
                        config=TurnTaking.from_settings(settings.VOICEBOT))

    # --- what the server sends ------------------------------------------------------------
    async def send_event(self, event: dict, session_id: uuid.UUID | None = None) -> None:
        """Only the PCM protocol's events: the user's transcript, the agent's as it is
        spoken (a segment at a time), errors; everything else stays on the server."""
        kind = event["type"]
        if kind == "transcript":
            event = {"type": "transcript", "role": "user", "text": event["text"],
                     "final": True}
        elif kind == "segment":
            event = {"type": "transcript", "role": "agent", "text": event["text"],
                     "final": False}
        elif kind != "error":
            return
        await super().send_event(event)

    async def send_audio(self, frame: bytes) -> None:
        """The bot's audio at the caller's rate; its first frame starts the pacing (the
        caller plays in real time from there) and the turn's response time."""
        stream = self.stream
        if stream is None:
            return
        if stream.engine.audio_sent_ms == 0:
            stream.engine.played(0)
            if self.speech_ended_at is not None:
                self.record.update_turn(stream.session_id, speech_end_to_audio_ms=round(
                    (time.monotonic() - self.speech_ended_at) * 1000, 1))
                self.speech_ended_at = None
        if stream.engine.sample_rate != self.rate:
            frame = self.resampled(stream.session_id, stream.engine.sample_rate, frame)
        if frame:
            await self.send(bytes_data=frame)

    def resampled(self, session_id: uuid.UUID, rate: int, frame: bytes) -> bytes:
        """``frame`` at the caller's rate (one continuous resampler per answer)."""
        import numpy as np
        import soxr

        if self.out_resampler is None or self.out_resampler[0] != session_id:
            self.out_resampler = (session_id, soxr.ResampleStream(rate, self.rate, 1,
                                                                  dtype="int16"))
        samples = np.frombuffer(frame, dtype="<i2")
        return self.out_resampler[1].resample_chunk(samples).astype("<i2").tobytes()

    async def stream_finished(self, stream: ActiveStream, result: StreamResult) -> None:
        """The history keeps what was heard; the caller gets the agent's final words."""
        await super().stream_finished(stream, result)
        heard = self.heard(stream, result)
        self.last_said = (result.spoken_text, time.monotonic())
        await super().send_event({"type": "transcript", "role": "agent", "text": heard,
                                  "final": True})

    # --- the listener's floor -------------------------------------------------------------
    def bot_speaking(self) -> bool:
        """An answer is being sent."""
        return self.stream is not None and self.stream.engine.result is None

    def bot_said(self) -> str:
        """What the bot said lately: the answer being spoken, or the last one for a few
        seconds after it was all sent (its echo may still come back)."""
        if self.bot_speaking():
            return " ".join(s.text for s in self.stream.engine.segments)
        text, ended = self.last_said
        return text if time.monotonic() - ended < ECHO_MEMORY_S else ""

    async def user_started(self) -> None:
        """Nothing to do until the words are in."""

    async def hold(self, *, speech_started_at: float) -> None:
        """Speech over the answer: stop sending its audio."""
        self.speech_started_at = speech_started_at
        self.held_at = time.monotonic()
        if self.stream is not None:
            self.stream.engine.pause()

    async def barge_in(self) -> None:
        """The speech goes on: the caller drops the answer's queued audio."""
        stream = self.stream
        if stream is None:
            return
        self.cut_ms = stream.engine.listener_ms
        await super().send_event({"type": "clear"})
        stopped = (self.held_at or time.monotonic()) - self.speech_started_at
        self.record.update_turn(stream.session_id, barge_in_stop_ms=round(stopped * 1000, 1))

    async def release(self, *, resume_from_cut: bool) -> None:
        """Not the user: the answer goes on (from where the caller dropped it)."""
        stream = self.stream
        self.held_at = None
        if stream is None or not stream.engine.paused:
            return
        stream.engine.resume(from_ms=self.cut_ms if resume_from_cut else None)
        if resume_from_cut:
            self.false_interruptions += 1
            self.record.update_turn(stream.session_id,
                                    false_interruptions=self.false_interruptions)
        self.cut_ms = None

    async def interrupted(self) -> None:
        """Words over the answer: it stops, cut to what the caller heard."""
        await self.stop_answer()

    async def user_turn(self, text: str, *, stt_ms: float, speech_ended_at: float) -> None:
        """A turn: stop the answer in progress, tell the caller, answer."""
        await self.stop_answer()
        await self.send_event({"type": "transcript", "text": text})
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
        """Stop the running answer at what the caller heard (its cut, if it dropped its
        queue)."""
        if self.stream is None:
            return
        played = self.cut_ms if self.cut_ms is not None else self.stream.engine.listener_ms
        self.cut_ms = self.held_at = None
        await self.stop_stream("barge_in", played_ms=played)
