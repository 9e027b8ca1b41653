"""The listener's decisions on a continuous stream, as a floor sees them: real speech
(Piper) through the real VAD and endpointer, fed as fast as it is processed; the
recognizer answers with the words it is given, so each test decides what was "heard"."""
from __future__ import annotations

import pytest

from tests.test_endpointing import silence, spoken
from voicebot.listening import Listener, TurnTaking
from voicebot.turnbench import voiced_span_ms
from voicebot.vad import SAMPLE_RATE


def voiced(text: str, ms: float | None = None) -> bytes:
    """``text`` spoken, without the silence around it (or its first ``ms`` of voice)."""
    pcm = spoken(text)
    start, end = voiced_span_ms(pcm)
    end = end if ms is None else start + ms
    return pcm[int(start * SAMPLE_RATE / 1000) * 2:int(end * SAMPLE_RATE / 1000) * 2]


class Words:
    """A recognizer that hears ``text`` in any audio."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def transcribe(self, pcm: bytes, *, sample_rate: int) -> str:
        return self.text


class RecordingFloor:
    """A floor that notes what the listener decided; the bot speaks while ``speaking``."""

    def __init__(self, *, speaking: bool = True, said: str = "") -> None:
        self.speaking, self.said = speaking, said
        self.calls: list[str] = []

    def bot_speaking(self) -> bool:
        return self.speaking

    def bot_said(self) -> str:
        return self.said

    async def user_started(self) -> None:
        self.calls.append("user_started")

    async def partial(self, text: str) -> None:
        pass

    async def hold(self, *, speech_started_at: float) -> None:
        self.calls.append("hold")

    async def barge_in(self) -> None:
        self.calls.append("barge_in")

    async def release(self, *, resume_from_cut: bool) -> None:
        self.calls.append("resume" if resume_from_cut else "release")

    async def interrupted(self) -> None:
        self.calls.append("interrupted")

    async def user_turn(self, text: str, *, stt_ms: float, speech_ended_at: float) -> None:
        self.calls.append(f"turn:{text}")
        self.speaking = False


async def listen(pcm: bytes, heard: str, floor: RecordingFloor) -> list[str]:
    """Feed ``pcm`` in 20 ms frames, then wait for the utterance's transcription."""
    listener = Listener(Words(heard), floor, sample_rate=SAMPLE_RATE,
                        config=TurnTaking(partial_every_ms=60_000))
    frame = SAMPLE_RATE // 50 * 2
    for i in range(0, len(pcm), frame):
        await listener.feed(pcm[i:i + frame])
    if listener._ending is not None:
        await listener._ending
    await listener.close()
    return floor.calls


async def test_a_pause_between_words_keeps_the_answer_held_until_the_barge_in() -> None:
    pcm = (silence(200) + voiced("Oh.") + silence(300)  # a word too short to barge in
           + voiced("Tell me about the weather instead, please.") + silence(800))
    calls = await listen(pcm, "Oh. Tell me about the weather instead, please.",
                         RecordingFloor())
    assert calls == ["hold", "barge_in", "turn:Oh. Tell me about the weather instead, please."]


async def test_a_short_word_releases_the_held_answer_and_speech_after_it_holds_it_again(
        ) -> None:
    pcm = (silence(200) + voiced("Oh.") + silence(450)
           + voiced("Tell me about the weather instead, please.") + silence(800))
    calls = await listen(pcm, "Oh. Tell me about the weather instead, please.",
                         RecordingFloor())
    assert calls == ["hold", "release", "hold", "barge_in",
                     "turn:Oh. Tell me about the weather instead, please."]


@pytest.mark.parametrize("ms", [60, 150])  # a blip; an utterance too short to barge in
async def test_a_moment_of_speech_holds_the_answer_then_releases_it_without_a_cut(
        ms: int) -> None:
    calls = await listen(silence(200) + voiced("Oh.", ms) + silence(800), "",
                         RecordingFloor())
    assert calls == ["hold", "release"]


async def test_speech_over_no_answer_starts_a_turn_without_holding() -> None:
    calls = await listen(silence(200) + spoken("What is my name?") + silence(800),
                         "What is my name?", RecordingFloor(speaking=False))
    assert calls == ["user_started", "turn:What is my name?"]


async def test_the_bots_own_words_heard_back_resume_the_answer_from_the_cut() -> None:
    said = "Once upon a time there was a little bridge over a wide river."
    floor = RecordingFloor(said=said)
    calls = await listen(silence(200) + spoken(said) + silence(800),
                         "upon a time there was a little bridge", floor)
    assert calls == ["hold", "barge_in", "resume"]



async def test_speech_without_words_after_the_barge_in_resumes_the_answer_before_it_ends(
        ) -> None:
    floor = RecordingFloor()
    listener = Listener(Words(""), floor, sample_rate=SAMPLE_RATE,
                        config=TurnTaking(partial_every_ms=60_000, false_interruption_ms=0))
    speech = voiced("Tell me about the weather on the coast tomorrow morning, please.")
    pcm = silence(200) + speech + silence(800)
    voice_ends, frame = len(silence(200)) + len(speech), SAMPLE_RATE // 50 * 2
    calls_while_speaking: list[str] | None = None
    for i in range(0, len(pcm), frame):
        await listener.feed(pcm[i:i + frame])
        if calls_while_speaking is None and i + frame >= voice_ends:
            calls_while_speaking = list(floor.calls)
    if listener._ending is not None:
        await listener._ending
    await listener.close()

    # No words within the window: the answer went on while the noise still sounded, and
    # the noise's end made no turn.
    assert calls_while_speaking == ["hold", "barge_in", "resume"]
    assert floor.calls == ["hold", "barge_in", "resume"]
