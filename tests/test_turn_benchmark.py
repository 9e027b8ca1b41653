"""The turn-taking benchmark's own parts (the clips it plays, how it reads them, its
options) and what the benchmark commands share."""
from __future__ import annotations

import pytest

from voicebot.turnbench import (
    RATE,
    Row,
    non_speech_clips,
    silence,
    summary,
    voiced_span_ms,
)


def test_the_voiced_span_of_a_clip_is_where_its_samples_are_loud() -> None:
    loud = (b"\x00\x40" * (RATE // 10))  # 100 ms at 16,384
    assert voiced_span_ms(silence(250) + loud + silence(500)) == (250.0, 350.0)
    assert voiced_span_ms(silence(100)) == (0.0, 0.0)


def test_ten_non_speech_clips_of_two_seconds_each() -> None:
    clips = non_speech_clips()
    assert len(clips) == 10 and len(set(clips.values())) == 10
    assert all(len(pcm) == 2 * RATE * 2 for pcm in clips.values())
    assert all(voiced_span_ms(pcm)[1] > 0 for name, pcm in clips.items())  # none is silent


def test_summary_reads_the_times_and_counts_the_failures() -> None:
    rows = [Row("a", ms=100.0), Row("b", ms=300.0), Row("c", error="no answer")]
    assert summary(rows) == {"n": 3, "p50_ms": 200.0, "p90_ms": pytest.approx(280.0),
                             "failed": 1}


@pytest.mark.parametrize("args, message", [
    (["--responses", "0"], "at least 1"),
    (["--url", "http://localhost:8001"], "ws://host:port"),
])
def test_the_command_refuses_bad_options_before_starting_anything(args: list[str],
                                                                  message: str) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command("turn_benchmark", *args)


def test_a_result_that_cannot_be_written_is_a_command_error(tmp_path) -> None:
    from django.core.management import CommandError

    from voicebot.management.benchmarks import write_result

    assert write_result(tmp_path / "r.json", {"a": 1}).read_text() == '{\n "a": 1\n}'
    with pytest.raises(CommandError, match="Cannot write"):
        write_result(tmp_path / "missing" / "r.json", {})
