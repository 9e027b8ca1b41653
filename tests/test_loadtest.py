"""``manage.py loadtest``: a tiny real run against a Daphne process it starts, plus the
pure helpers of ``streaming.loadclient`` (playout clock, percentiles). No timing is
asserted: the numbers belong in BENCHMARKS.md."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from streaming.loadclient import PlayoutClock, percentile, stats

SUMMARY_KEYS = {
    "client_ttfa_ms", "server_ttfa_ms", "overhead_ms", "overlap_ms", "ideal_ttfa_ms", "gap_ms",
    "underruns", "errors", "sessions", "completed", "sessions_with_errors",
    "underruns_total", "sessions_with_underruns",
}


def test_tiny_run_writes_a_sane_result(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "r.json"
    # --database sqlite: the server gets a throwaway SQLite file even when DATABASE_URL is
    # set (CI), so the test database is never touched.
    call_command("loadtest", sessions=2, ramp=0, words=12, llm_first_token_ms=5,
                 llm_tokens_per_s=200, tts_first_byte_ms=5, database="sqlite", output=output)

    result = json.loads(output.read_text())
    assert result["config"]["sessions"] == 2 and result["config"]["server_started"]
    rows = result["sessions"]
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "completed" and row["errors"] == []
        assert row["session_id"] and row["frames"] > 0 and row["audio_bytes"] > 0
        for value in (row["client_ttfa_ms"], row["server"]["ttfa_ms"], row["ideal_ttfa_ms"]):
            assert isinstance(value, int | float) and value > 0
        assert row["server"]["overhead_ms"] is not None and row["gap_ms"] is not None
    summary = result["summary"]
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["completed"] == 2 and summary["sessions_with_errors"] == 0
    assert summary["client_ttfa_ms"]["n"] == 2
    assert {"p50", "p90", "p99", "max"} <= summary["client_ttfa_ms"].keys()
    assert result["records"]["final"] == 2 and result["records"]["lost"] == 0
    assert result["server"]["rss_peak_mb"] > 0
    out = capsys.readouterr().out
    assert "client TTFA" in out and "records: 2 / 2" in out


def test_bad_options_are_command_errors() -> None:
    with pytest.raises(CommandError, match="sessions"):
        call_command("loadtest", sessions=0)
    with pytest.raises(CommandError, match="piper"):
        call_command("loadtest", tts="piper", tts_rtf=2.0)


def test_playout_clock_counts_gaps_a_real_time_listener_hears() -> None:
    player = PlayoutClock(jitter_ms=100)
    player.push(0, 200)  # plays from 100 to 300
    player.push(250, 100)  # in time: queued until 400
    assert player.underruns == 0 and player.played_ms(350) == 250
    player.push(450, 100)  # the queue ran dry at 400: a gap, resumes at 550
    assert player.underruns == 1 and player.stall_ms == 150
    assert player.played_ms(500) == 300 and player.played_ms(600) == 350


def test_percentiles_interpolate_and_skip_missing_values() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    summary = stats([10, None, 20, 30])
    assert summary["n"] == 3 and summary["p50"] == 20 and summary["max"] == 30
    assert stats([])["p50"] is None
