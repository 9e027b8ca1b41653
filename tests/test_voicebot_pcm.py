"""``/api/voicebot/pcm``: a caller streams its microphone continuously (a script of
Piper-spoken turns between silences, sent in real time as a phone would) and the server
takes the turns: each is answered once, speech over an answer clears it, the bot's own
voice coming back is not a turn."""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.conftest import HEADERS, REPLY_TIMEOUT
from tests.test_voicebot_consumer import piper_speech, running_rows, words_of
from voicebot.models import Turn
from voicebot.turnbench import Phone, finals

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/voicebot/pcm"
RATE = 16000


@cache
def spoken(text: str) -> bytes:
    return piper_speech(text)


def silence(ms: float) -> bytes:
    return b"\0\0" * int(RATE * ms / 1000)


@asynccontextmanager
async def caller(rate: int = RATE) -> AsyncIterator[Phone]:
    """A phone (``voicebot.turnbench.Phone``) on the endpoint, in this process."""
    from voicebot_site.asgi import application

    communicator = WebsocketCommunicator(application, PATH, headers=HEADERS)
    connected, _ = await communicator.connect(timeout=REPLY_TIMEOUT)
    assert connected

    async def send(frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await communicator.send_to(bytes_data=frame)
        else:
            await communicator.send_to(text_data=frame)

    async def receive() -> str | bytes:
        output = await communicator.receive_output(timeout=300)
        return output["bytes"] if output.get("bytes") is not None else output["text"]

    phone = Phone(send, receive, rate=rate)
    await phone.start()
    try:
        yield phone
    finally:
        await phone.stop()
        await communicator.disconnect(timeout=REPLY_TIMEOUT)


def audio_frames(received: list) -> int:
    return sum(r.kind == "audio" for r in received)


@database_sync_to_async
def turns() -> list[Turn]:
    return list(Turn.objects.select_related("session").order_by("number"))


@pytest.fixture
def whisper(settings):
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "stt": "whisper"}


@pytest.fixture
def long_answers(settings, whisper):
    """Answers of 45 words (about 5 s of speech): long enough to be spoken over."""
    llm = {**settings.STREAMING_PROVIDERS["llm"]}
    llm["simulated"] = {**llm["simulated"],
                        "OPTIONS": {**llm["simulated"]["OPTIONS"], "words": 45}}
    settings.STREAMING_PROVIDERS = {**settings.STREAMING_PROVIDERS, "llm": llm}
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "simulated"}


async def test_each_spoken_turn_of_a_script_is_answered_once(whisper) -> None:
    async with caller() as phone:
        phone.say(silence(300) + spoken("Hello, my name is Ada."))
        await phone.until(finals("agent", 1))  # all sent: the caller waits till it played
        phone.say(silence(phone.audio_ms() + 500) + spoken("What is my name?"))
        await phone.until(finals("agent", 2))
        phone.say(silence(2000))  # a quiet line: no more turns
        await phone.quiet()

    users = phone.transcripts("user")
    assert [words_of(t) for t in users] == [["hello", "my", "name", "is", "ada"],
                                            ["what", "is", "my", "name"]]
    assert len(phone.transcripts("agent")) == 2 and "Ada" in phone.transcripts("agent")[1]
    kinds = phone.kinds()
    first_user, second_user = (i for i, r in enumerate(phone.received)
                               if r.kind == "transcript" and r.event["role"] == "user"
                               and r.event["final"])
    assert "audio" in kinds[first_user:second_user] and "audio" in kinds[second_user:]
    assert "clear" not in kinds  # nobody spoke over an answer
    recorded = await turns()
    assert [t.number for t in recorded] == [1, 2]
    assert all(t.session.status == "completed" and t.stt_provider == "whisper"
               and t.speech_end_to_audio_ms is not None for t in recorded)


async def test_speech_over_the_answer_clears_it_before_the_next_answer(long_answers) -> None:
    async with caller() as phone:
        phone.say(silence(300) + spoken("Tell me a long story."))
        await phone.until(lambda r: audio_frames(r) >= 10)  # 1 s heard
        phone.say(spoken("Stop. Tell me about the weather instead."))
        await phone.until(finals("user", 2))
        await phone.until(lambda r: r[-1].kind == "audio")  # the next answer speaks

    kinds = phone.kinds()
    clear = kinds.index("clear")
    second_user = [i for i, r in enumerate(phone.received) if r.kind == "transcript"
                   and r.event["role"] == "user" and r.event["final"]][1]
    assert clear < second_user < len(kinds) - 1 - kinds[::-1].index("audio")
    assert "audio" not in kinds[clear:second_user]  # the cut answer sent nothing more
    assert words_of(phone.transcripts("user")[1])[:2] == ["stop", "tell"]
    first, second = await turns()
    assert first.session.status == "cancelled" and first.session.end_reason == "barge_in"
    assert first.barge_in_stop_ms is not None
    assert 0 < len(first.heard_text) < len(first.session.input_text)  # cut where it was heard
    assert second.speech_end_to_audio_ms is not None


async def test_a_burst_of_noise_over_the_answer_does_not_interrupt_it(long_answers) -> None:
    import numpy as np

    noise = np.random.default_rng(3).normal(0, 8000, RATE // 5).clip(-32768, 32767)
    async with caller() as phone:
        phone.say(silence(300) + spoken("Tell me a long story."))
        await phone.until(lambda r: audio_frames(r) >= 10)
        phone.say(noise.astype("<i2").tobytes())  # 200 ms
        await phone.until(finals("agent", 1))

    assert len(phone.transcripts("user")) == 1 and "clear" not in phone.kinds()
    [turn] = await turns()
    assert turn.session.status == "completed" and turn.false_interruptions == 0


async def test_the_bots_own_voice_fed_back_is_not_a_turn_and_the_answer_goes_on(
        long_answers, settings) -> None:
    """No echo cancellation: the caller's microphone hears the bot's answer (Piper's
    voice) as it plays. The server holds the answer at the speech, clears it, hears its
    own words, and goes on from where it was cut."""
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "tts": "piper"}
    async with caller() as phone:
        phone.say(silence(300) + spoken("Tell me a long story."))
        await phone.until(lambda r: audio_frames(r) >= 20)
        phone.say(phone.audio()[: RATE * 2 * 3])  # 3 s of the answer, heard back
        await phone.until(finals("agent", 1), timeout=180)

    assert len(phone.transcripts("user")) == 1  # the question only
    [turn] = await turns()
    assert turn.session.status == "completed" and turn.false_interruptions >= 1
    assert turn.heard_text == turn.session.input_text.strip()


async def test_a_pause_after_an_unfinished_sentence_waits_for_the_rest(whisper) -> None:
    async with caller() as phone:
        phone.say(silence(300) + spoken("Tell me about the weather and") + silence(800)
                  + spoken("the sea."))
        await phone.until(finals("agent", 1))
        await phone.quiet()

    [heard] = phone.transcripts("user")  # one turn, not two
    assert words_of(heard)[-2:] == ["the", "sea"] and "weather" in words_of(heard)


async def test_the_words_so_far_come_as_partial_transcripts_while_the_user_speaks(
        whisper) -> None:
    question = "Tell me about the history of Paris and the old bridges over its river."
    async with caller() as phone:
        phone.say(silence(300) + spoken(question))
        await phone.until(finals("user", 1))

    user = [r.event for r in phone.events("transcript", role="user")]
    partials, final = user[:-1], user[-1]
    assert final["final"] and partials and not any(p["final"] for p in partials)
    assert all(words_of(p["text"])[0] == "tell" for p in partials)  # the start, heard early
    assert len(words_of(partials[0]["text"])) < len(words_of(final["text"]))


async def test_an_8_khz_caller_is_heard_and_answered_at_8_khz_and_other_text_is_ignored(
        whisper) -> None:
    from streaming.audio import resample_pcm

    async with caller(rate=8000) as phone:
        await phone.send_text(json.dumps({"type": "media", "x": 1}))  # ignored
        await phone.send_text("not json")
        phone.say(resample_pcm(silence(300) + spoken("Hello, my name is Ada."), RATE, 8000))
        await phone.until(finals("agent", 1))

    assert [e.event["code"] for e in phone.events("error")] == ["bad_json"]  # unknown: quiet
    assert words_of(phone.transcripts("user")[0]) == ["hello", "my", "name", "is", "ada"]
    [turn] = await turns()
    voice_rate = turn.session.sample_rate  # Piper's 22,050 Hz
    expected = turn.session.bytes_sent * 8000 / voice_rate
    assert voice_rate != 8000 and abs(len(phone.audio()) - expected) <= 2 * 160  # to 20 ms


STILL_THERE = '{"type": "start", "sample_rate": 7999}'  # answered with bad_field


@pytest.mark.parametrize(("frame", "code"), [
    ("not json", "bad_json"),
    ('{"type": "start", "sample_rate": 3}', "bad_field"),
    ('{"type": "start", "sample_rate": 16000.5}', "bad_field"),
    ('{"type": "start", "sample_rate": NaN}', "bad_json"),
    ('{"type": "start", "sample_rate": 16000, "x": ' + "[" * 20_000 + "]" * 20_000 + "}",
     "bad_json"),
    ('{"type": "start", "voice": "' + "x" * 50_000 + '"}', "message_too_long"),
    ('{"type": "media", "payload": "AAAA"}', None),  # another protocol's message: ignored
    (b"\x00", None),  # half a sample: kept until the rest comes
])
async def test_bad_input_on_the_pcm_endpoint_is_refused_or_ignored_and_the_socket_lives(
        frame: str | bytes, code: str | None, caplog) -> None:
    from voicebot_site.asgi import application

    communicator = WebsocketCommunicator(application, PATH, headers=HEADERS)
    assert (await communicator.connect(timeout=REPLY_TIMEOUT))[0]
    if isinstance(frame, bytes):
        await communicator.send_to(bytes_data=frame)
    else:
        await communicator.send_to(text_data=frame)
    await communicator.send_to(text_data=STILL_THERE)
    expected = [c for c in (code, "bad_field") if c]
    errors = [json.loads(await communicator.receive_from(timeout=20))
              for _ in expected]
    await communicator.disconnect(timeout=REPLY_TIMEOUT)

    assert [e["code"] for e in errors] == expected and errors[-1]["fatal"] is False
    assert all(len(e["message"]) < 300 for e in errors)  # a short excerpt of the input
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
    assert await running_rows() == 0


async def test_speech_while_the_caller_still_plays_a_finished_answer_clears_and_cuts_it(
        whisper) -> None:
    """The answer's stream has ended (all its audio sent, up to 2 s ahead of the caller),
    but the caller is still playing it when the user speaks: its tail is cleared, and the
    history keeps what was heard."""
    async with caller() as phone:
        phone.say(silence(300) + spoken("Hello, my name is Ada."))
        await phone.until(finals("agent", 1))  # sent, not yet all played
        phone.say(spoken("What is my name?"))
        await phone.until(finals("agent", 2))

    kinds = phone.kinds()
    agent_final = next(i for i, r in enumerate(phone.received) if r.kind == "transcript"
                       and r.event["role"] == "agent" and r.event["final"])
    second_user = [i for i, r in enumerate(phone.received) if r.kind == "transcript"
                   and r.event["role"] == "user" and r.event["final"]][1]
    assert agent_final < kinds.index("clear") < second_user
    first, second = await turns()
    assert first.session.status == "completed"
    assert 0 < len(first.heard_text) < len(first.session.input_text.strip())
    assert second.session.status == "completed"
