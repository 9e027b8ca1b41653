"""Real Piper synthesis: the offline voice speaks, off the event loop."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from itertools import pairwise

import pytest

from streaming.engine import CANCELLED, COMPLETED, EngineConfig, StreamEngine, text_once
from streaming.scheduling import DeadlinePool
from tests.looptick import LoopTicks
from tts.providers import piper
from tts.providers.piper import PiperTTS, pieces

pytestmark = pytest.mark.django_db(transaction=True)


async def test_piper_synthesizes_pcm_at_22050_hz_off_the_event_loop() -> None:
    tts = PiperTTS(max_workers=1)
    chunks = []
    ticks_at_chunk = []
    async with LoopTicks() as ticks:
        async for chunk in tts.synthesize("Hello there. This is the offline voice, speaking.",
                                          voice=None):
            chunks.append(chunk)
            ticks_at_chunk.append(ticks.count)

    assert tts.sample_rate == 22050 and tts.voices == ["en_US-joe-medium"]
    assert len(chunks) == 2  # one chunk per sentence
    pcm = b"".join(chunks)
    assert len(pcm) % 2 == 0 and len(pcm) > 22050  # over half a second of speech
    assert any(pcm[i] for i in range(0, len(pcm), 97))  # not silence
    assert ticks_at_chunk[0] > 1  # the loop kept running while Piper worked


async def test_a_piper_failure_is_a_provider_error_naming_an_error_id_not_its_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from streaming.protocols import ProviderError

    class BrokenVoice:
        def synthesize(self, text: str) -> Iterator:
            raise RuntimeError("/srv/secret/internal-detail")

    monkeypatch.setattr(piper, "load_voice", lambda *args: BrokenVoice())
    tts = PiperTTS(max_workers=1)
    with pytest.raises(ProviderError, match=r"Piper synthesis failed \(error [0-9a-f]{8} ") as err:
        async for _ in tts.synthesize("Hi.", voice=None):
            pass
    assert "internal-detail" not in str(err.value)


async def test_tts_endpoint_speaks_with_piper(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text="Good morning. The offline voice works.", tts="piper")

    done = await client.receive_until("done", timeout=60)

    session = client.of("session")[0]
    assert done["status"] == "completed"
    assert session["sample_rate"] == 22050 and session["voice"] == "en_US-joe-medium"
    assert len(client.audio) > 22050 and client.first("audio") < client.first("done")


SENTENCES = [
    f"Sentence number {n} is long enough to stand as a segment of its own here. "
    for n in range(1, 7)
]


class Gate:
    """A job that holds a pool's one worker until the test opens it."""

    def __init__(self, pool: DeadlinePool) -> None:
        self.entered, self.opened = threading.Event(), threading.Event()
        pool.submit(self._steps(), lambda item: None, deadline=0.0)
        assert self.entered.wait(10)

    def _steps(self) -> Iterator[str]:
        self.entered.set()
        assert self.opened.wait(10)
        yield "gate"


def spy_on_sentences(tts: PiperTTS, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Record, from the workers, each request that started (its text) and each sentence."""
    started: list[str] = []
    sentences: list[bytes] = []
    real = tts._sentences

    def spied(text: str) -> Iterator[bytes]:
        started.append(text)
        for pcm in real(text):
            sentences.append(pcm)
            yield pcm

    monkeypatch.setattr(tts, "_sentences", spied)
    return started, sentences


async def until(condition, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def nothing(event: object) -> None:
    pass


async def test_cancel_during_lookahead_leaves_no_piper_job_queued_and_none_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tts = PiperTTS(max_workers=1)
    started, _ = spy_on_sentences(tts, monkeypatch)
    gate = Gate(tts.pool)
    engine = StreamEngine(tts, nothing, config=EngineConfig(lookahead_segments=3))
    run = asyncio.create_task(engine.run(text_once("".join(SENTENCES))))
    await until(lambda: tts.pool.queued == 4)  # the segment to send and three ahead

    engine.stop()
    assert (await run).status == CANCELLED
    assert tts.pool.queued == 0

    gate.opened.set()
    assert await asyncio.to_thread(tts.pool.wait_idle, 10)
    assert started == []  # no cancelled request was synthesized


async def test_a_request_dropped_mid_text_stops_piper_after_the_sentence_under_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tts = PiperTTS(max_workers=1)
    _, sentences = spy_on_sentences(tts, monkeypatch)
    chunks = tts.synthesize("".join(SENTENCES), voice=None)

    first = await anext(chunks)
    await chunks.aclose()
    assert await asyncio.to_thread(tts.pool.wait_idle, 10)

    assert first == sentences[0]
    assert len(sentences) <= 2  # the next sentence may have been under way; no more


def test_text_is_cut_in_pieces_at_spaces_or_at_the_limit_in_a_run_without_spaces() -> None:
    text = "One two three four five six. " + "x" * 25 + " end"

    cut = list(pieces(text, 10))

    assert cut == ["One two", "three four", "five six.", "x" * 10, "x" * 10, "xxxxx end"]
    assert list(pieces("Short.", 10)) == ["Short."] and list(pieces("   ", 10)) == []


async def test_a_long_token_without_spaces_is_synthesized_in_bounded_steps_that_a_cancel_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "MAX_STEP_CHARS", 40)
    tts = PiperTTS(max_workers=1)
    chunks = tts.synthesize("Reallylongword" * 7, voice=None)  # 98 characters, no space

    first = await anext(chunks)
    second = await anext(chunks)  # the first piece's audio came before the rest was done
    await chunks.aclose()

    assert first and second
    assert await asyncio.to_thread(tts.pool.wait_idle, 10)  # the worker is free again
    assert [c async for c in tts.synthesize("Hello.", voice=None)]


async def run_two_streams_on_one_worker(policy: str, monkeypatch: pytest.MonkeyPatch
                                        ) -> tuple[list[str], list[str], str]:
    """Stream A queues its first four segments, then stream B its first: the order run."""
    tts = PiperTTS(max_workers=1, scheduling=policy)
    started, _ = spy_on_sentences(tts, monkeypatch)
    gate = Gate(tts.pool)
    a = StreamEngine(tts, nothing, config=EngineConfig(lookahead_segments=3))
    b = StreamEngine(tts, nothing)
    run_a = asyncio.create_task(a.run(text_once("".join(SENTENCES))))
    await until(lambda: tts.pool.queued == 4)
    run_b = asyncio.create_task(b.run(text_once("Hello from the second listener.")))
    await until(lambda: tts.pool.queued == 5)

    gate.opened.set()
    results = await asyncio.gather(run_a, run_b)

    assert [r.status for r in results] == [COMPLETED, COMPLETED]
    return started, [s.spoken for s in a.segments], b.segments[0].spoken


async def test_deadline_scheduling_runs_a_new_streams_first_segment_before_anothers_fourth(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started, a, b_first = await run_two_streams_on_one_worker("deadline", monkeypatch)

    assert started.index(b_first) < started.index(a[3])
    assert started[:2] == [a[0], b_first]  # B's first audio is needed now; A's second later


async def test_fifo_scheduling_runs_requests_in_arrival_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started, a, b_first = await run_two_streams_on_one_worker("fifo", monkeypatch)

    assert started[:5] == [*a[:4], b_first]


async def test_piper_times_every_written_word_inside_the_audio_of_its_sentence() -> None:
    tts = PiperTTS(max_workers=1)
    text = "Hello there, friend. It weighs 1,026 pounds!"

    chunks = [chunk async for chunk in tts.synthesize(text, voice=None)]

    assert [[w.text for w in c.words] for c in chunks] == [
        ["Hello", "there,", "friend."], ["It", "weighs", "1,026", "pounds!"]]
    for chunk in chunks:
        length = len(chunk) / 2 / tts.sample_rate * 1000
        words = chunk.words
        assert 0 < words[0].start_ms and words[-1].end_ms < length  # silence at both ends
        assert all(w.start_ms < w.end_ms <= n.start_ms for w, n in pairwise(words))
    *_, number, pounds = chunks[1].words
    assert number.end_ms - number.start_ms > 2 * (pounds.end_ms - pounds.start_ms)  # 4 words


def test_word_clock_times_written_words_by_the_phonemes_espeak_said_for_them() -> None:
    # "It 12 ok." said as "ɪt twɛlv oʊkeɪ." ; samples per phoneme, with the start and end
    # markers' samples first and last
    phonemes = ["ɪ", "t", " ", "t", "w", "ˈ", "ɛ", "l", "v", " ", "o", "k", "."]
    samples = [100, 10, 10, 50, 10, 10, 10, 10, 10, 10, 50, 20, 20, 300, 100]
    sounds = [("ɪ", "t"), ("t", "w", "ɛ", "l", "v"), ("o", "k")]
    clock = piper.WordClock("It 12 ok.", sounds, [phonemes], 1000)

    words = clock.words(phonemes, samples)

    assert [(w.text, w.start_ms, w.end_ms) for w in words] == [
        ("It", 100.0, 120.0), ("12", 170.0, 230.0), ("ok.", 280.0, 320.0)]


def test_word_clock_tells_apart_words_espeak_ran_together_in_context() -> None:
    # "in the sea" said as "ɪnðə siː": "in the" is one spoken word, two written ones
    phonemes = ["ɪ", "n", "ð", "ə", " ", "s", "i", "ː"]
    samples = [0, 10, 20, 30, 40, 50, 60, 70, 80, 0]
    sounds = [("ɪ", "n"), ("ð", "ə"), ("s", "i", "ː")]
    clock = piper.WordClock("in the sea", sounds, [phonemes], 1000)

    words = clock.words(phonemes, samples)

    assert [(w.text, w.start_ms, w.end_ms) for w in words] == [
        ("in", 0.0, 30.0), ("the", 30.0, 100.0), ("sea", 150.0, 360.0)]


def test_word_clock_gives_a_word_said_as_nothing_an_instant_before_the_next() -> None:
    clock = piper.WordClock("— hello", [(), ("h", "i")], [["h", "i"]], 1000)

    words = clock.words(["h", "i"], [5, 10, 10, 5])

    assert [(w.text, w.start_ms, w.end_ms) for w in words] == [
        ("—", 5.0, 5.0), ("hello", 5.0, 25.0)]


def test_word_clock_times_each_sentence_in_its_own_chunk_and_none_it_did_not_expect() -> None:
    sentences = [["h", "i", "."], ["j", "o"]]
    clock = piper.WordClock("Hi. Yo", [("h", "i"), ("j", "o")], sentences, 1000)

    first = clock.words(sentences[0], [0, 10, 10, 10, 0])
    unexpected = clock.words(["x"], [0, 10, 0])

    assert [(w.text, w.start_ms, w.end_ms) for w in first] == [("Hi.", 0.0, 20.0)]
    assert unexpected == []


async def test_a_voice_without_alignments_speaks_plain_audio_and_the_engine_estimates_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "_with_alignments", str)  # the model file as it is
    monkeypatch.setattr(piper, "_voices", {})
    tts = PiperTTS(max_workers=1)

    chunks = [chunk async for chunk in tts.synthesize("Plain audio here.", voice=None)]
    result = await StreamEngine(tts, _ignore).run(text_once("Plain audio here."))

    assert chunks and not any(hasattr(chunk, "words") for chunk in chunks)
    words = result.segments[0].words
    assert [w[0] for w in words] == ["Plain", "audio", "here."]
    assert words[0][1] == 0  # an estimate starts at the audio's start; Piper's never does


def test_without_the_onnx_package_the_model_loads_unpatched(
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import builtins

    real_import = builtins.__import__

    def no_onnx(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnx":
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    model = tmp_path / "voice.onnx"

    assert piper._with_alignments(model) == str(model)


async def _ignore(event: object) -> None:
    pass
