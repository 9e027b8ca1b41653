"""Voice activity on a continuous stream, utterances from it, and the transcript checks of
turn-taking (mid-sentence pauses, the bot's own voice)."""
from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from voicebot.endpointing import Endpointer, ends_mid_sentence, is_echo
from voicebot.vad import SAMPLE_RATE, WINDOW_BYTES, WINDOW_MS, VadStream


@cache
def spoken(text: str) -> bytes:
    """``text`` spoken by Piper, at 16 kHz."""
    from streaming.audio import resample_pcm
    from tests.test_voicebot_consumer import piper_speech

    return resample_pcm(piper_speech(text), 16000, SAMPLE_RATE)


def silence(ms: float) -> bytes:
    return b"\0\0" * int(SAMPLE_RATE * ms / 1000)


def noise(ms: float, *, level: float = 3000, seed: int = 1) -> bytes:
    samples = np.random.default_rng(seed).normal(0, level, int(SAMPLE_RATE * ms / 1000))
    return samples.clip(-32768, 32767).astype("<i2").tobytes()


def tone(ms: float, hz: float = 440) -> bytes:
    t = np.arange(int(SAMPLE_RATE * ms / 1000)) / SAMPLE_RATE
    return (9000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def bursts(ms: float) -> bytes:
    """Cough-like: short loud bursts of noise with gaps."""
    out = b""
    for i in range(int(ms // 250)):
        out += noise(80, level=12000, seed=i) + silence(170)
    return out


def probabilities(pcm: bytes, chunk_bytes: int) -> list[float]:
    stream = VadStream()
    return [p for i in range(0, len(pcm), chunk_bytes)
            for p, _ in stream.feed(pcm[i:i + chunk_bytes])]


def run(pcm: bytes, endpointer: Endpointer | None = None) -> list[tuple[str, float]]:
    """The endpointer's events over ``pcm`` (committing each utterance at its end)."""
    endpointer = endpointer or Endpointer(window_ms=WINDOW_MS)
    stream = VadStream()
    events = []
    for i in range(0, len(pcm) - WINDOW_BYTES + 1, WINDOW_BYTES):
        window = pcm[i:i + WINDOW_BYTES]
        [(p, _)] = stream.feed(window)
        if event := endpointer.feed(p, window):
            events.append((event, endpointer.now_ms))
            if event == "end":
                endpointer.commit()
    return events


def test_a_stream_fed_in_20_ms_pieces_gets_the_probabilities_of_the_whole_recording() -> None:
    pcm = silence(300) + spoken("Tell me about the ocean.") + silence(600)

    whole = probabilities(pcm, len(pcm))
    pieces = probabilities(pcm, 640)  # 20 ms, not a multiple of the window

    assert len(pieces) == len(whole) == len(pcm) // WINDOW_BYTES
    assert np.allclose(pieces, whole, atol=1e-5)
    assert max(whole) > 0.9 and max(whole[:5]) < 0.1  # speech, after silence
    stream = VadStream()
    windows = [w for i in range(0, len(pcm), 640) for _, w in stream.feed(pcm[i:i + 640])]
    assert b"".join(windows) == pcm[: len(windows) * WINDOW_BYTES]  # each its own PCM


def test_two_spoken_sentences_with_a_pause_are_two_utterances() -> None:
    first, second = spoken("What time is it?"), spoken("And where are we going?")
    pcm = silence(400) + first + silence(900) + second + silence(900)

    events = run(pcm)

    speech = [p >= 0.5 for p in probabilities(pcm, len(pcm))]
    pause_at = (400 + len(first) / 32) // WINDOW_MS  # a window in the pause
    last_word_ends = (max(i for i, s in enumerate(speech) if s and i < pause_at) + 1) * WINDOW_MS
    assert [e for e, _ in events if e != "onset"] == ["start", "end", "start", "end"]
    events = [e for e in events if e[0] != "onset"]
    assert 400 <= events[0][1] < last_word_ends  # started inside the first sentence
    # ~500 ms of silence after the last word (the speech-to-silence hysteresis may hold a
    # window or two of fading voice)
    assert 500 <= events[1][1] - last_word_ends <= 500 + 2 * WINDOW_MS


@pytest.mark.parametrize("clip", ["silence", "noise", "tone", "bursts", "quiet hum"])
def test_non_speech_starts_no_utterance(clip: str) -> None:
    pcm = {"silence": silence(3000), "noise": noise(3000), "tone": tone(3000),
           "bursts": bursts(3000), "quiet hum": tone(3000, hz=60)}[clip]

    assert [e for e, _ in run(pcm) if e != "onset"] == []  # a blip at most, no utterance


def test_the_utterance_keeps_the_audio_from_just_before_the_speech() -> None:
    speech = spoken("Hello there.")
    endpointer = Endpointer(window_ms=WINDOW_MS)
    stream = VadStream()
    pcm = silence(1000) + speech + silence(700)
    audio = b""
    for i in range(0, len(pcm) - WINDOW_BYTES + 1, WINDOW_BYTES):
        window = pcm[i:i + WINDOW_BYTES]
        if endpointer.feed(stream.feed(window)[0][0], window) == "end":
            audio = endpointer.commit()

    assert len(speech) < len(audio) < len(speech) + len(silence(1000 + 700))
    assert audio.startswith(silence(100))  # the pre-roll: silence before the first word


def test_an_extended_end_waits_and_speech_coming_back_continues_the_utterance() -> None:
    endpointer = Endpointer(window_ms=10.0, min_speech_ms=30, end_silence_ms=50)
    feed = [endpointer.feed(p, b"xx") for p in [0.9] * 5 + [0.0] * 5]
    assert feed[2] == "start" and feed[-1] == "end"

    endpointer.extend(100)  # the words ended mid-sentence
    assert [endpointer.feed(0.0, b"xx") for _ in range(9)] == [None] * 9
    assert endpointer.feed(0.9, b"xx") is None  # the speaker goes on
    assert [endpointer.feed(0.0, b"xx") for _ in range(5)][-1] == "end"
    assert len(endpointer.commit()) == 2 * (10 + 10 + 5)  # one utterance, all its windows


def test_speech_coming_back_before_the_commit_resumes_the_utterance() -> None:
    endpointer = Endpointer(window_ms=10.0, min_speech_ms=30, end_silence_ms=50)
    events = [endpointer.feed(p, b"xx") for p in [0.9] * 5 + [0.0] * 5 + [0.0, 0.9]]
    assert events[9] == "end" and events[-1] == "resume"  # while its words were transcribed
    assert [endpointer.feed(0.0, b"xx") for _ in range(5)][-1] == "end"  # the new end
    assert len(endpointer.commit()) == 2 * 17


def test_the_first_speech_window_is_an_onset_and_a_blip_falls_back_to_idle() -> None:
    endpointer = Endpointer(window_ms=10.0, min_speech_ms=30)
    assert [endpointer.feed(p, b"xx") for p in (0.9, 0.9, 0.0)] == ["onset", None, None]
    assert endpointer.state == "idle" and endpointer.run_ms == 0  # a 20 ms blip
    assert [endpointer.feed(0.9, b"xx") for _ in range(3)] == ["onset", None, "start"]


def test_an_utterance_too_long_ends_on_its_own() -> None:
    endpointer = Endpointer(window_ms=10.0, min_speech_ms=30, max_utterance_ms=200)
    events = [endpointer.feed(0.9, b"xx") for _ in range(25)]
    assert events.count("start") == 1 and events.index("end") < 25


@pytest.mark.parametrize(("text", "mid"), [
    ("I want to go to", True), ("Tell me about the weather and", True),
    ("Well,", True), ("So I was thinking...", True), ("What is the time?", False),
    ("I like it.", False), ("Can you help me with this?", False), ("", False),
])
def test_ends_mid_sentence(text: str, mid: bool) -> None:
    assert ends_mid_sentence(text) is mid


@pytest.mark.parametrize(("heard", "echo"), [
    ("the ocean covers most of the planet", True),  # the bot's words, heard back
    ("The ocean covers most of our planet.", True),  # one word changed by the room
    ("ocean covers planet and the deep sea", True),
    ("stop, tell me a joke instead", False),  # the user
    ("what about the ocean", False),
    ("Stop. What time is it?", False),  # common words of the answer, not its phrases
    ("The see it is a bass and mysterious", True),  # chopped by a barge-in, garbled
    ("Tell me more about the deep blue sea", False),
    ("What is it?", False),  # the bot said "what", "is" and "it", far apart
    ("unexplored", True),
    ("", False),
])
def test_is_echo(heard: str, echo: bool) -> None:
    said = ("The ocean covers most of the planet, and the deep sea is still mostly "
            "unexplored. Once upon a time, it is said, what the sea hid was a stop for "
            "ships. The sea is a vast and mysterious realm.")
    assert is_echo(heard, said) is echo
