"""``manage.py voice_benchmark``: the pure parts of ``voicebot.voicebench`` (sentence counting,
rows, summaries, the server's environment) and one real run against the server it starts.
No timing is asserted: the figures belong in BENCHMARKS.md."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from voicebot import voicebench as vb


@pytest.mark.parametrize(("text", "sentences"), [
    ("", 0),
    ("   ", 0),
    ("Hello", 1),
    ("Hello.", 1),
    ("Hi. How are you?", 2),
    ("Wow! Really? Yes.", 3),
    ("It costs 3.50 dollars.", 1),  # a dot between digits ends nothing
    ("Wait... what?", 2),  # a run of marks is one end
    ('He said "stop." Then he left', 2),  # a closing quote after the mark; a tail counts
    ("Visit example.com today.", 1),
])
def test_sentences_end_at_marks_followed_by_space_or_the_end_and_a_tail_counts(
        text: str, sentences: int) -> None:
    assert vb.count_sentences(text) == sentences


def typed(index: int, *, sentences: int, before: bool | None,
          status: str = "completed", errors: list[str] | None = None) -> vb.TypedRow:
    return vb.TypedRow(index=index, prompt="p", sentences=sentences,
                       audio_before_last_delta=before, status=status, errors=errors or [])


def test_audio_before_the_last_delta_in_9_of_10_multi_sentence_answers_is_a_share_of_0_9_met(
        ) -> None:
    rows = [typed(i, sentences=3, before=i != 0) for i in range(10)]
    rows += [typed(10, sentences=1, before=False), typed(11, sentences=1, before=True)]

    summary = vb.summarize_typed(rows)

    assert summary["multi_sentence"] == 10 and summary["audio_before_last_delta"] == 9
    assert summary["share"] == 0.9
    assert summary["target"]["met"] is True and vb.verdict(summary["target"]) == "met"
    assert summary["one_sentence"] == 2


def test_8_of_10_is_not_met_and_failed_turns_are_counted_not_judged() -> None:
    rows = [typed(i, sentences=2, before=i >= 2) for i in range(10)]
    rows.append(typed(10, sentences=4, before=False, status="failed",
                      errors=["error:provider_error"]))
    rows.append(typed(11, sentences=0, before=None, status="timeout", errors=["timeout"]))

    summary = vb.summarize_typed(rows)

    assert summary["share"] == 0.8 and vb.verdict(summary["target"]) == "not met"
    assert summary["turns"] == 12 and summary["completed"] == 10 and summary["failed"] == 2
    assert summary["error_kinds"] == {"error:provider_error": 1, "timeout": 1}


def test_no_multi_sentence_answer_gives_no_share_and_not_met() -> None:
    summary = vb.summarize_typed([typed(0, sentences=1, before=None)])
    assert summary["share"] is None and summary["target"]["met"] is False


def spoken(index: int, v2v: float | None, **fields: object) -> vb.SpokenRow:
    return vb.SpokenRow(index=index, question="q", speech_ms=1000.0, voice_to_voice_ms=v2v,
                        status="completed", **fields)


def test_voice_to_voice_target_is_judged_on_the_median_of_the_turns_that_have_one() -> None:
    rows = [spoken(0, 800.0, stt_ms=300.0, llm_ttft_ms=100.0),
            spoken(1, 900.0, stt_ms=500.0, llm_ttft_ms=300.0),
            spoken(2, 5000.0, stt_ms=400.0, llm_ttft_ms=200.0)]
    rows.append(vb.SpokenRow(index=3, question="q", speech_ms=1000.0, status="error",
                             errors=["error:no_speech"]))

    summary = vb.summarize_spoken(rows)

    assert summary["voice_to_voice_ms"]["n"] == 3
    assert summary["voice_to_voice_ms"]["p50"] == 900.0
    assert summary["voice_to_voice_ms"]["max"] == 5000.0
    assert summary["components_p50"]["stt_ms"] == 400.0
    assert summary["components_p50"]["llm_ttft_ms"] == 200.0
    assert summary["target"]["met"] is True
    assert summary["failed"] == 1 and summary["error_kinds"] == {"error:no_speech": 1}
    assert vb.summarize_spoken(rows[1:3])["target"]["met"] is False  # p50 2,950 ms


def test_typed_row_orders_audio_and_the_last_delta_by_their_arrival_on_the_socket() -> None:
    early = vb.Capture(first_audio_seq=4, first_audio_at=1400.0, deltas=["A. ", "B."],
                       last_delta_seq=9, last_delta_at=1900.0, status="completed")
    late = vb.Capture(first_audio_seq=10, first_audio_at=2000.0, deltas=["A. ", "B."],
                      last_delta_seq=9, last_delta_at=1900.0, status="completed")
    silent = vb.Capture(deltas=["A."], last_delta_seq=3, status="completed")

    row = vb.typed_row(0, "p", early, sent_at=1000.0)
    assert row.audio_before_last_delta is True and row.sentences == 2
    assert row.first_audio_ms == 400.0 and row.last_delta_ms == 900.0
    assert vb.typed_row(1, "p", late, sent_at=1000.0).audio_before_last_delta is False
    assert vb.typed_row(2, "p", silent, sent_at=1000.0).audio_before_last_delta is False
    assert vb.typed_row(3, "p", vb.Capture(status="completed"), 0.0).audio_before_last_delta \
        is None


def test_typed_row_paces_the_answer_by_the_deltas_between_its_first_and_last() -> None:
    capture = vb.Capture(deltas=["A", " b", " c", "."], first_delta_at=1200.0,
                         last_delta_at=1300.0, last_delta_seq=5, status="completed")
    assert vb.typed_row(0, "p", capture, sent_at=1000.0).deltas_per_s == 30.0  # 3 in 100 ms
    one = vb.Capture(deltas=["A."], first_delta_at=1200.0, last_delta_at=1200.0,
                     last_delta_seq=1, status="completed")
    assert vb.typed_row(1, "p", one, sent_at=1000.0).deltas_per_s is None


def test_spoken_row_measures_voice_to_voice_from_audio_end_and_takes_the_server_parts() -> None:
    capture = vb.Capture(first_audio_at=5200.0, first_audio_seq=12, deltas=["Paris."],
                         transcript={"text": "What is the capital of France?", "stt_ms": 310.0},
                         metrics={"llm_ttft_ms": 120.0, "llm_queue_ms": 2.0, "ttfa_ms": 640.0},
                         status="completed")

    row = vb.spoken_row(0, "What is the capital of France?", 2000.0, capture,
                        end_sent_at=4250.0)

    assert row.voice_to_voice_ms == 950.0 and row.stt_ms == 310.0
    assert (row.llm_ttft_ms, row.llm_queue_ms, row.ttfa_ms) == (120.0, 2.0, 640.0)
    assert row.transcript_word_errors == 0 and row.llm_deltas == 1 and row.ok


def test_a_turn_without_done_is_a_failure_with_a_reason() -> None:
    row = vb.spoken_row(0, "q", 1000.0, vb.Capture(errors=["timeout"]), end_sent_at=None)
    assert row.status == "timeout" and not row.ok and row.voice_to_voice_ms is None
    cancelled = vb.typed_row(0, "p", vb.Capture(status="cancelled"), 0.0)
    assert cancelled.errors == ["status:cancelled"] and not cancelled.ok


class FakeSocket:
    """Frames as the server would send them."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = list(frames)

    async def recv(self) -> str | bytes:
        return self.frames.pop(0)


async def test_an_error_before_any_stream_ends_the_turn_without_waiting_for_done() -> None:
    capture = vb.Capture()
    await vb.read_turn(FakeSocket([
        json.dumps({"type": "transcript", "text": "", "stt_ms": 90.0, "words": []}),
        json.dumps({"type": "error", "code": "no_speech", "message": "", "fatal": False}),
    ]), capture)
    assert capture.errors == ["error:no_speech"] and capture.transcript["stt_ms"] == 90.0


async def test_an_error_of_a_running_stream_is_recorded_and_reading_goes_on_to_done() -> None:
    capture = vb.Capture()
    await vb.read_turn(FakeSocket([
        json.dumps({"type": "session", "session_id": "s1", "sample_rate": 22050}),
        json.dumps({"type": "llm", "delta": "Hi.", "session_id": "s1"}),
        b"\x00\x00" * 10,
        json.dumps({"type": "error", "code": "provider_error", "session_id": "s1"}),
        json.dumps({"type": "metrics", "ttfa_ms": 5.0, "session_id": "s1"}),
        json.dumps({"type": "done", "status": "failed", "session_id": "s1"}),
    ]), capture)
    assert capture.status == "failed" and capture.errors == ["error:provider_error"]
    assert capture.metrics == {"ttfa_ms": 5.0}
    assert capture.last_delta_seq == 2 and capture.first_audio_seq == 3


def test_speech_is_cut_into_100_ms_frames_at_16_khz() -> None:
    frames = vb.mic_frames(bytes(2 * 16000 * 250 // 1000))  # 250 ms
    assert [len(f) for f in frames] == [3200, 3200, 1600]


def test_server_env_forces_the_offline_engines_and_drops_remote_and_secret_settings(
        tmp_path: Path) -> None:
    base = {"DATABASE_URL": "postgres://x", "OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "u",
            "LLM_PROVIDER": "openai", "DEBUG": "1", "PIPER_WORKERS": "3", "HOME": "/root",
            "SECRET_KEY": "mine"}

    env = vb.server_env(tmp_path, base)

    assert (env["LLM_PROVIDER"], env["STT_PROVIDER"], env["TTS_PROVIDER"]) == (
        "local", "whisper", "piper")
    assert env["DEBUG"] == "0" and env["STREAMING_STORE_AUDIO"] == "0"
    assert env["SQLITE_PATH"].startswith(str(tmp_path)) and env["SECRET_KEY"] != "mine"
    assert not {"DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"} & env.keys()
    report = vb.env_report(env, base)
    assert report["set"]["PIPER_WORKERS"] == "3" and "HOME" not in report["set"]
    assert "SECRET_KEY" not in report["set"]
    assert report["removed"] == ["DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"]


def test_nothing_to_measure_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="nothing to measure"):
        call_command("voice_benchmark", spoken=0, typed=0)


def test_a_long_turn_longer_than_the_server_takes_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="VOICEBOT_MAX_AUDIO_SECONDS"):
        call_command("voice_benchmark", spoken=1, typed=0, long_turn_seconds=31)


def test_a_long_turn_is_whole_clips_back_to_back_then_silence_to_the_second() -> None:
    second = 2 * vb.MIC_RATE
    clips = [("one", b"\x01" * second), ("two", b"\x02" * second), ("three", b"\x03" * second)]

    text, pcm = vb.long_turn(iter(clips), 2.5)

    assert text == "one two" and len(pcm) == 2.5 * second
    assert pcm[:2 * second] == b"\x01" * second + b"\x02" * second
    assert pcm[2 * second:] == bytes(second // 2)
    with pytest.raises(ValueError, match="not one question fits"):
        vb.long_turn(clips, 0.5)


def test_a_turns_phases_split_transcribing_from_answering_on_the_clients_clock() -> None:
    heard = vb.Capture(transcript={"text": "Hi."}, transcript_at=1500.0, done_at=4000.0)
    assert vb.phases(heard, 1000.0, spoken=True) == {"transcribing": (1000.0, 1500.0),
                                                      "answering": (1500.0, 4000.0)}
    no_speech = vb.Capture(transcript={"text": ""}, transcript_at=1500.0, errors=["x"])
    assert vb.phases(no_speech, 1000.0, spoken=True) == {"transcribing": (1000.0, 1500.0)}
    assert vb.phases(vb.Capture(errors=["timeout"]), 1000.0, spoken=True) == {}
    typed = vb.Capture(done_at=3000.0)
    assert vb.phases(typed, 1000.0, spoken=False) == {"answering": (1000.0, 3000.0)}


def test_one_spoken_one_long_and_one_typed_turn_against_the_server_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "voice.json"
    call_command("voice_benchmark", spoken=1, typed=1, warmup=0, long_turn_seconds=4,
                 output=str(output))

    result = json.loads(output.read_text())
    assert result["config"]["server_started"]
    [said] = result["spoken"]["turns"]
    assert said["transcript"].strip() and said["status"] == "completed"
    assert isinstance(said["voice_to_voice_ms"], float)
    assert said["llm_deltas"] > 0 and said["metrics"]["ttfa_ms"] is not None
    [wrote] = result["typed"]["turns"]
    assert wrote["status"] == "completed" and wrote["errors"] == []
    assert wrote["sentences"] == vb.count_sentences(wrote["answer"]) >= 1
    assert result["server_env"]["set"]["LLM_PROVIDER"] == "local"
    assert result["machine"]["nproc"] >= 1 and result["failed_turns"] == 0
    long = result["long_turn"]
    assert long["speech_ms"] == 4000.0 and long["status"] == "completed"
    assert long["transcript"].strip() and long["question"].startswith(vb.QUESTIONS[0])
    # The probe's pings were answered while the turns ran, in each phase of them.
    probe = result["server_probe_ms"]
    assert probe["n"] > 0 and probe["p50"] is not None and probe["max"] >= probe["p50"]
    assert result["server_probe"]["pongs_during"] > 0 and not result["server_probe"]["errors"]
    phases = result["server_probe_by_phase_ms"]
    assert list(phases) == list(vb.PROBE_PHASES)
    assert all(phases[name]["n"] > 0 for name in ("transcribing", "answering",
                                                   "long_turn_transcribing"))
    out = capsys.readouterr().out
    assert "voice-to-voice (ms)" in out and "audio before the last LLM delta" in out
    assert "long spoken turn (4 s" in out
    assert "probe: a second connection's ping answered in p50 " in out
    assert "probe while Whisper transcribes a spoken turn: " in out
