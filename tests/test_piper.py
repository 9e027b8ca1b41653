"""Real Piper synthesis: the offline voice speaks, off the event loop."""
from __future__ import annotations

import asyncio

import pytest

from tts.providers.piper import PiperTTS

pytestmark = pytest.mark.django_db(transaction=True)


async def test_piper_synthesizes_pcm_at_22050_hz_off_the_event_loop() -> None:
    tts = PiperTTS(max_workers=1)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    chunks = []
    ticks_at_chunk = []
    async for chunk in tts.synthesize("Hello there. This is the offline voice, speaking.",
                                      voice=None):
        chunks.append(chunk)
        ticks_at_chunk.append(ticks)
    ticking.cancel()

    assert tts.sample_rate == 22050 and tts.voices == ["en_US-joe-medium"]
    assert len(chunks) == 2  # one chunk per sentence
    pcm = b"".join(chunks)
    assert len(pcm) % 2 == 0 and len(pcm) > 22050  # over half a second of speech
    assert any(pcm[i] for i in range(0, len(pcm), 97))  # not silence
    assert ticks_at_chunk[0] > 1  # the loop kept running while Piper worked


async def test_piper_error_becomes_a_provider_error() -> None:
    from streaming.protocols import ProviderError

    tts = PiperTTS(model_path="/nonexistent/voice.onnx", config_path="/nonexistent/voice.json")
    with pytest.raises((ProviderError, OSError)):
        async for _ in tts.synthesize("Hi.", voice=None):
            pass


async def test_tts_endpoint_speaks_with_piper(ws_client) -> None:
    client = await ws_client()
    await client.send(type="start", text="Good morning. The offline voice works.", tts="piper")

    done = await client.receive_until("done", timeout=60)

    session = client.of("session")[0]
    assert done["status"] == "completed"
    assert session["sample_rate"] == 22050 and session["voice"] == "en_US-joe-medium"
    assert len(client.audio) > 22050 and client.first("audio") < client.first("done")
