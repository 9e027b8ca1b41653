"""``/api/voicebot/pcm``: the voicebot over plain PCM, for telephony bridges, headset apps
and voice-agent test harnesses.

After an optional ``{"type": "start", "sample_rate": 16000}`` (8-48 kHz; also ``tts``
and ``voice``), binary frames are mono PCM s16le at that rate in both directions: the
caller streams its microphone continuously and the server decides the turns
(``voicebot.floor``, ``voicebot.listening``); the answers come back resampled to the
caller's rate, paced in real time. Text frames from the server: ``{"type": "clear"}`` when
the caller must drop the bot audio it has queued (the user barged in), ``{"type":
"transcript", "role": "user"|"agent", "text": ..., "final": true|false}`` and ``error``.
Other text frames from the caller are ignored. Each answer is a session with its turn, as
on the page.
"""
from __future__ import annotations

import uuid

from streaming.consumers import ActiveStream, ProtocolError, get_field
from streaming.engine import COMPLETED, StreamResult
from voicebot.consumers import SAMPLE_RATES, VoicebotConsumer

DEFAULT_RATE = 16000


class PcmVoicebotConsumer(VoicebotConsumer):
    """Continuous PCM in, the bot's PCM out, the PCM protocol's few events."""

    async def connect(self) -> None:
        """Accept; listen at 16 kHz until a ``start`` says otherwise."""
        self.rate = DEFAULT_RATE
        self.out_resampler: tuple[uuid.UUID, object] | None = None
        await super().connect()

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
        self.rate = rate
        await self.listen(rate)

    async def receive_audio(self, data: bytes) -> None:
        """Microphone PCM, continuously (at 16 kHz when no ``start`` came)."""
        if self.listener is None:
            await self.listen(self.rate)
        await self.listener.feed(data)

    # --- what the server sends ------------------------------------------------------------
    async def send_event(self, event: dict, session_id: uuid.UUID | None = None) -> None:
        """Only the PCM protocol's events: the user's words (``partial`` ones as they come,
        then the turn's), the agent's as they are spoken (a segment at a time), ``clear``
        and errors; everything else stays on the server."""
        kind = event["type"]
        if kind in ("transcript", "partial"):
            event = {"type": "transcript", "role": "user", "text": event["text"],
                     "final": kind == "transcript"}
        elif kind == "segment":
            event = {"type": "transcript", "role": "agent", "text": event["text"],
                     "final": False}
        elif kind == "clear":
            event = {"type": "clear"}
        elif kind != "error":
            return
        await super().send_event(event)

    async def send_audio(self, frame: bytes) -> None:
        """The bot's audio at the caller's rate; its first frame starts the pacing (the
        caller plays in real time from there, and reports nothing)."""
        stream = self.stream
        if stream is None:
            return
        if stream.engine.audio_sent_ms == 0:
            stream.engine.played(0)
            self.note_first_audio()
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
        """The resampler's last samples go out (a completed answer's end); the history
        keeps what was heard; the caller gets the agent's final words."""
        if self.out_resampler is not None and self.out_resampler[0] == stream.session_id:
            import numpy as np

            resampler, self.out_resampler = self.out_resampler[1], None
            tail = resampler.resample_chunk(np.zeros(0, dtype="<i2"), last=True)
            if result.status == COMPLETED and len(tail) and not self.closed:
                await self.send(bytes_data=tail.astype("<i2").tobytes())
        await super().stream_finished(stream, result)
        await super().send_event({"type": "transcript", "role": "agent",  # as it is
                                  "text": self.heard(stream, result), "final": True})
