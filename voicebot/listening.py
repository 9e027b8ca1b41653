"""A continuous microphone stream, listened to: what each utterance in it means for the
conversation.

Per connection, :class:`Listener` resamples the caller's PCM to 16 kHz, runs voice
activity (``voicebot.vad``, in a worker thread) and the endpointer on it, transcribes each
utterance (the STT adapter, off the event loop), and tells the connection's
:class:`Floor`:

- ``user_started``: speech began while the bot is silent; ``partial``: its words so far,
  every ``partial_every_ms`` of an utterance (``0``: never);
- ``hold``: speech began while the bot speaks: stop sending its audio (the caller's queue
  still plays; a cough ends the hold with ``release``);
- ``barge_in``: the speech has lasted ``barge_in_ms``: drop the bot's queued audio;
- ``release(resume_from_cut)``: it was not the user after all (no words within
  ``false_interruption_ms``, or the bot's own voice coming back): go on with the answer;
- ``interrupted``: words: the answer stops (cut to what was heard) before the turn ends;
- ``user_turn``: the utterance's words, a turn to answer.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Protocol

from streaming.audio import WholeSamples
from streaming.protocols import STT, logged_error
from voicebot.endpointing import IDLE, SPEAKING, Endpointer, ends_mid_sentence, is_echo, words
from voicebot.vad import SAMPLE_RATE, WINDOW_MS, VadStream

logger = logging.getLogger(__name__)

NO_WORDS, ECHO = "no_words", "echo"


@dataclass(frozen=True)
class TurnTaking:
    """The listener's tunables (``settings.VOICEBOT``)."""

    end_silence_ms: float = 500.0
    mid_sentence_extra_ms: float = 700.0
    barge_in_ms: float = 300.0
    false_interruption_ms: float = 1500.0
    # A held answer goes on after this much silence (a short word, or a blip that became
    # an utterance); a pause between words is shorter. Holding costs nothing audible while
    # the listener still has queued audio to play.
    release_after_silence_ms: float = 400.0
    early_transcribe_ms: float = 400.0  # before the end: the words are ready at the end
    partial_every_ms: float = 1000.0
    max_utterance_ms: float = 30_000.0

    @classmethod
    def from_settings(cls, conf: Mapping[str, object]) -> TurnTaking:
        """The tunables from ``settings.VOICEBOT``."""
        return cls(end_silence_ms=conf["END_SILENCE_MS"],
                   mid_sentence_extra_ms=conf["MID_SENTENCE_EXTRA_MS"],
                   barge_in_ms=conf["BARGE_IN_MS"],
                   false_interruption_ms=conf["FALSE_INTERRUPTION_MS"],
                   partial_every_ms=conf["PARTIAL_EVERY_MS"],
                   max_utterance_ms=conf["MAX_AUDIO_SECONDS"] * 1000)


class Floor(Protocol):
    """What a connection does with what its listener decides (see the module)."""

    def bot_speaking(self) -> bool: ...
    def bot_said(self) -> str: ...
    async def user_started(self) -> None: ...
    async def partial(self, text: str) -> None: ...
    async def hold(self, *, speech_started_at: float) -> None: ...
    async def barge_in(self) -> None: ...
    async def release(self, *, resume_from_cut: bool) -> None: ...
    async def interrupted(self) -> None: ...
    async def user_turn(self, text: str, *, stt_ms: float, speech_ended_at: float) -> None: ...


class Listener:
    """The turn-taking of one continuous microphone stream (call :meth:`feed` in order)."""

    def __init__(self, stt: STT, floor: Floor, *, sample_rate: int,
                 config: TurnTaking = TurnTaking()) -> None:
        self.stt = stt
        self.floor = floor
        self.config = config
        self.sample_rate = sample_rate
        self.vad = VadStream()
        self.endpointer = Endpointer(window_ms=WINDOW_MS, end_silence_ms=config.end_silence_ms,
                                     max_utterance_ms=config.max_utterance_ms)
        self._whole = WholeSamples()
        self._resampler = None
        if sample_rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="int16")
        self._holding = False  # the bot's audio is held for this utterance
        self._barged = False  # ... and its queued audio dropped
        self._released = False  # ... and it was judged not the user (goes on regardless)
        self._extended = False
        self._check: asyncio.Task | None = None
        self._ending: asyncio.Task | None = None
        self._partial: asyncio.Task | None = None
        # A transcription started in the silence before the end: (speech heard then, task).
        self._early: tuple[float, asyncio.Task] | None = None
        self._partial_at_ms = 0.0  # utterance audio when the last partial was asked for
        self._utterance = 0  # counts utterances: a late partial of an earlier one is dropped

    async def feed(self, pcm: bytes) -> None:
        """Microphone PCM s16le mono at the caller's rate, as it comes."""
        pcm = self._whole.take(pcm)
        if self._resampler is not None:
            import numpy as np

            samples = np.frombuffer(pcm, dtype="<i2")
            pcm = self._resampler.resample_chunk(samples).astype("<i2").tobytes()
        for probability, window in await asyncio.to_thread(self.vad.feed, pcm):
            await self._window(probability, window)

    async def close(self) -> None:
        """Stop the checks and transcriptions in progress."""
        early = self._early[1] if self._early is not None else None
        tasks = [t for t in (self._check, self._ending, self._partial, early) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _window(self, probability: float, window: bytes) -> None:
        event = self.endpointer.feed(probability, window)
        if event == "onset" and self.floor.bot_speaking() and not self._holding:
            await self._hold(self.endpointer.window_ms)  # at once: a blip releases it
        elif event == "start":
            self._extended = False
            self._utterance += 1
            self._partial_at_ms = self.endpointer.now_ms
            if self.floor.bot_speaking():
                if not self._holding:
                    await self._hold(self.endpointer.speech_ms)
            else:
                await self.floor.user_started()
        elif event == "resume" and self._ending is not None:
            self._ending.cancel()  # the utterance goes on: its words so far do not count
            self._ending = None
        elif event == "end":
            self._ending = self._spawn(self._utterance_ended(), "listener-transcribe")
        await self._barge_in_rules()
        self._maybe_partial()
        self._maybe_transcribe_early()

    def _maybe_transcribe_early(self) -> None:
        """In the silence just before an utterance's end, start transcribing it: unless
        the speaker goes on, its words are the same at the end, and ready sooner."""
        endpointer = self.endpointer
        if endpointer.state != SPEAKING:
            return
        if endpointer.silence_ms == 0:
            self._drop_early()  # more speech: what was started no longer covers it
        elif (self._early is None and endpointer.silence_ms
              >= self.config.end_silence_ms - self.config.early_transcribe_ms):
            self._early = (endpointer.speech_ms, asyncio.create_task(
                self._transcribe(endpointer.audio), name="listener-early"))

    def _drop_early(self) -> None:
        """Cancel an early transcription that no longer covers the utterance (so the
        recognizer does not spend its turn on it)."""
        if self._early is not None:
            self._early[1].cancel()
            self._early = None

    def _maybe_partial(self) -> None:
        """Every ``partial_every_ms`` of an utterance, transcribe it so far (one at a
        time)."""
        every = self.config.partial_every_ms
        if (not every or self.endpointer.state != SPEAKING
                or self.endpointer.now_ms - self._partial_at_ms < every
                or (self._partial is not None and not self._partial.done())):
            return
        self._partial_at_ms = self.endpointer.now_ms
        self._partial = self._spawn(self._send_partial(self._utterance), "listener-partial")

    async def _send_partial(self, utterance: int) -> None:
        heard, _ = await self._transcribe(self.endpointer.audio)
        if heard and utterance == self._utterance and self.endpointer.state == SPEAKING:
            await self.floor.partial(heard)

    async def _hold(self, speech_ms: float) -> None:
        self._holding = True
        await self.floor.hold(speech_started_at=time.monotonic() - speech_ms / 1000)

    async def _barge_in_rules(self) -> None:
        """While the bot's audio is held: a long enough speech drops it; a short one that
        fell silent (or a blip that never became an utterance) releases it."""
        endpointer = self.endpointer
        if (self._holding and endpointer.state == IDLE and endpointer.run_ms == 0
                and not self._barged):
            self._holding = False  # the onset was a blip
            await self.floor.release(resume_from_cut=False)
            return
        if self._released or endpointer.state != SPEAKING:
            return
        if not self._holding:
            if endpointer.silence_ms == 0 and self.floor.bot_speaking():
                await self._hold(endpointer.window_ms)  # speech again after a pause
            return
        if not self._barged and endpointer.speech_ms >= self.config.barge_in_ms:
            self._barged = True
            await self.floor.barge_in()
            self._check = self._spawn(self._check_words(), "listener-check")
        elif (not self._barged
              and endpointer.silence_ms >= self.config.release_after_silence_ms):
            self._holding = False  # a short word ("yes"): more speech holds it again
            await self.floor.release(resume_from_cut=False)

    async def _check_words(self) -> None:
        """``false_interruption_ms`` after a barge-in, still speaking: are there words?"""
        await asyncio.sleep(self.config.false_interruption_ms / 1000)
        if self.endpointer.state != SPEAKING or self._released:
            return  # the utterance's end decides
        heard, _ = await self._transcribe(self.endpointer.audio)
        if self.endpointer.state != SPEAKING or self._released:
            return
        if await self._meaning(heard) is None:
            await self.floor.interrupted()
        else:
            await self._release()

    async def _utterance_ended(self) -> None:
        ended_at = time.monotonic() - self.endpointer.silence_ms / 1000
        if self._early is not None and self._early[0] == self.endpointer.speech_ms:
            early, self._early = self._early[1], None
            heard, stt_ms = await early  # no speech since it started
        else:
            self._drop_early()
            heard, stt_ms = await self._transcribe(self.endpointer.audio)
        if ends_mid_sentence(heard) and not self._extended:
            self._extended = True
            self.endpointer.extend(self.config.mid_sentence_extra_ms)
            self._ending = None
            return
        self.endpointer.commit()
        self._ending = None
        if self._check is not None:
            self._check.cancel()
        meaning = await self._meaning(heard)
        still_held = self._holding and not self._released
        barged = self._barged
        self._holding = self._barged = self._released = False
        if meaning is not None:
            logger.info("not a turn (%s): %r", meaning, heard[:80])
            if still_held:
                await self.floor.release(resume_from_cut=barged)
            return
        await self.floor.user_turn(heard, stt_ms=stt_ms, speech_ended_at=ended_at)

    @staticmethod
    def _spawn(work: Coroutine[object, object, None], name: str) -> asyncio.Task:
        """Run ``work`` in a task of its own; a failure is logged (with an error id), not
        lost: the listener goes on with the next utterance."""
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logged_error(f"the listener's {name} failed", exc)
        return asyncio.create_task(guarded(), name=name)

    async def _release(self) -> None:
        self._released = True
        await self.floor.release(resume_from_cut=self._barged)

    async def _meaning(self, heard: str) -> str | None:
        """Why an utterance is not the user's turn (``None``: it is). The echo check
        compares with the whole answer (tens of ms for a long one): in a worker thread."""
        if not words(heard):
            return NO_WORDS
        said = self.floor.bot_said()
        if said and await asyncio.to_thread(is_echo, heard, said):
            return ECHO
        return None

    async def _transcribe(self, audio: bytes) -> tuple[str, float]:
        """The words of ``audio`` ("" when the recognizer fails: logged) and the time it
        took, in ms."""
        started = time.monotonic()
        try:
            heard = await self.stt.transcribe(audio, sample_rate=SAMPLE_RATE)
        except Exception:
            logger.exception("transcription of an utterance failed")
            heard = ""
        return str(heard).strip(), round((time.monotonic() - started) * 1000, 3)
