"""``manage.py loadtest``: tiny real runs against a Daphne process it starts, plus the
pure helpers of ``streaming.loadclient`` (playout clock, percentiles, the loop probe's
report) and ``streaming.loadcapacity`` (capacity search, probe verdict, ceiling
arithmetic). No timing is asserted: the numbers belong in BENCHMARKS.md."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from streaming.loadcapacity import (
    WARM_TEXT,
    measure_ceiling,
    piper_options,
    probe_verdict,
    search_capacity,
    sentences,
)
from streaming.loadclient import (
    SCENARIOS,
    LoopProbe,
    PlayoutClock,
    probe_line,
    stats,
)
from streaming.management.commands.loadtest import Command, rss_growth
from streaming.simulated import simulated_reply

FAST = {"ramp": 0, "words": 12, "llm_first_token_ms": 5, "llm_tokens_per_s": 200,
        "tts_first_byte_ms": 5, "database": "sqlite"}

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
    assert {"p50", "p90", "p95", "p99", "max"} <= summary["client_ttfa_ms"].keys()
    assert result["records"]["final"] == 2 and result["records"]["lost"] == 0
    assert result["server"]["rss_peak_mb"] > 0
    # The probe connection pinged while the sessions ran and its pongs came meanwhile.
    probe = result["server_probe_ms"]
    assert probe["n"] > 0 and probe["p50"] is not None and probe["max"] >= probe["p50"]
    assert result["server_probe"]["pongs_during"] > 0 and not result["server_probe"]["errors"]
    assert result["server_probe"]["pings_sent"] >= result["server_probe"]["pongs"] >= probe["n"]
    texts = [text for row in rows for text in row["segments"]]
    assert len(texts) == sum(row["server"]["segments"] for row in rows)
    shortest = min(texts, key=lambda text: len(text.split()))
    assert summary["shortest_segment"] == {"words": len(shortest.split()), "text": shortest}
    out = capsys.readouterr().out
    assert "client TTFA" in out and "records: 2 / 2" in out
    assert f"shortest segment: {len(shortest.split())} words ({shortest!r})" in out
    assert "probe: a second connection's ping answered in p50 " in out
    assert f"({probe['n']} pings)" in out


def test_two_rounds_run_four_streams_count_the_two_of_round_two_and_record_all_four(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "r.json"
    call_command("loadtest", sessions=2, rounds=2, output=output, **FAST)

    result = json.loads(output.read_text())
    counted, round1 = result["sessions"], result["round1_sessions"]
    assert [(r["index"], r["round"]) for r in sorted(counted, key=lambda r: r["index"])] == [
        (0, 2), (1, 2)]
    assert [(r["index"], r["round"]) for r in sorted(round1, key=lambda r: r["index"])] == [
        (0, 1), (1, 1)]
    streams = counted + round1
    assert all(r["status"] == "completed" and not r["errors"] for r in streams)
    assert len({r["session_id"] for r in streams}) == 4  # a new stream (and id) each round
    assert result["summary"]["sessions"] == 2 and result["summary"]["client_ttfa_ms"]["n"] == 2
    assert result["config"]["rounds"] == 2 and result["config"]["counted_rounds"] == "2-2"
    assert result["records"]["expected"] == 4 and result["records"]["final"] == 4
    assert result["records"]["lost"] == 0 and not result["records"]["missing_ids"]
    rss = result["rss_by_round_mb"]
    assert len(rss) == 2 and all(mb > 0 for mb in rss)  # the server's RSS as each round ended
    assert result["rss_growth_ratio"] == rss_growth(rss) > 0
    out = capsys.readouterr().out
    assert "records: 4 / 4" in out
    assert f"server RSS at the end of each round: {rss[0]:g}, {rss[1]:g} MB" in out


def test_rss_growth_is_the_last_round_over_the_first_and_needs_two_rounds() -> None:
    assert rss_growth([100.0, 110.0, 125.0]) == 1.25
    assert rss_growth([100.0]) is None and rss_growth(None) is None


def test_probe_reports_the_pings_sent_and_the_pongs_received_within_the_spans() -> None:
    probe = LoopProbe("ws://127.0.0.1:9")
    probe.sent = 4
    probe.pings = [(0.0, 2.0), (50.0, 3.0), (100.0, 40.0), (200.0, 1.0)]  # (sent at, round trip)

    report = probe.report([(40.0, 120.0)])

    assert probe.round_trips([(40.0, 120.0)]) == [3.0, 40.0]
    assert report["server_probe_ms"]["n"] == 2 and report["server_probe_ms"]["max"] == 40.0
    # the pong of the ping sent at 100 came at 140, after the span
    assert report["server_probe"]["pongs_during"] == 1
    assert report["server_probe"]["pings_sent"] == 4 and report["server_probe"]["pongs"] == 4
    line = probe_line(report["server_probe_ms"])
    assert line == ("probe: a second connection's ping answered in p50 21.5 ms, p99 39.6 ms, "
                    "max 40.0 ms (2 pings)")


def test_bad_options_are_command_errors() -> None:
    with pytest.raises(CommandError, match="sessions"):
        call_command("loadtest", sessions=0)
    with pytest.raises(CommandError, match="piper"):
        call_command("loadtest", tts="piper", tts_rtf=2.0)


@pytest.mark.parametrize(("options", "message"), [
    ({"capacity": True}, "--capacity needs --tts piper"),
    ({"rounds": 0}, "--rounds must be at least 1"),
    ({"tts": "piper", "capacity": True, "max_probes": 0}, "--max-probes must be at least 1"),
    ({"tts": "piper", "capacity": True, "compare": True}, "--capacity measures the parallel"),
    ({"tts": "piper", "capacity": True, "url": "ws://127.0.0.1:9"},
     "--capacity needs the server started here"),
    ({"compare": True, "scheduling": "both"}, "--compare and --scheduling both"),
    ({"scheduling": "fifo", "url": "ws://127.0.0.1:9"}, "--scheduling needs the server"),
])
def test_option_combinations_that_cannot_run_are_command_errors_before_any_server_starts(
        options: dict, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("loadtest", **options)


def test_slow_tts_scenario_is_standard_with_a_2500_ms_tts_first_byte_in_the_server_env(
        tmp_path: Path) -> None:
    slow, standard = SCENARIOS["slow-tts"].server_env(), SCENARIOS["standard"].server_env()
    assert float(slow.pop("SIMULATED_TTS_FIRST_BYTE_MS")) == 2500
    standard.pop("SIMULATED_TTS_FIRST_BYTE_MS")
    assert slow == standard

    env, _ = Command().server_env({"tts": "simulated", "scheduling": None, "database": "sqlite"},
                                  SCENARIOS["slow-tts"], sequential=False, workdir=tmp_path)
    assert float(env["SIMULATED_TTS_FIRST_BYTE_MS"]) == 2500


def test_scheduling_option_sets_local_scheduling_in_the_server_env_only_when_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_SCHEDULING", raising=False)
    opts = {"tts": "piper", "database": "sqlite"}
    for policy in ("fifo", "deadline"):
        env, _ = Command().server_env(opts | {"scheduling": policy}, SCENARIOS["standard"],
                                      sequential=False, workdir=tmp_path)
        assert env["LOCAL_SCHEDULING"] == policy
    env, _ = Command().server_env(opts | {"scheduling": None}, SCENARIOS["standard"],
                                  sequential=False, workdir=tmp_path)
    assert "LOCAL_SCHEDULING" not in env


def test_playout_clock_counts_gaps_a_real_time_listener_hears() -> None:
    player = PlayoutClock(jitter_ms=100)
    player.push(0, 200)  # plays from 100 to 300
    player.push(250, 100)  # in time: queued until 400
    assert player.underruns == 0 and player.played_ms(350) == 250
    player.push(450, 100)  # the queue ran dry at 400: a gap, resumes at 550
    assert player.underruns == 1 and player.stall_ms == 150
    assert player.played_ms(500) == 300 and player.played_ms(600) == 350


def test_stats_interpolate_percentiles_and_skip_missing_values() -> None:
    summary = stats([10, None, 20, 30])
    assert summary["n"] == 3 and summary["p50"] == 20 and summary["max"] == 30
    assert stats([])["p50"] is None


def test_stats_has_p95_next_to_the_other_percentiles() -> None:
    summary = stats(range(101))  # 0..100: the q-th percentile is q
    assert (summary["p50"], summary["p90"], summary["p95"], summary["p99"]) == (50, 90, 95, 99)
    assert stats([])["p95"] is None


def threshold_probe(capacity: int, log: list[int]) -> Callable[[int], bool]:
    """A fake probe that passes up to ``capacity`` sessions and logs what it was asked."""
    def probe(n: int) -> bool:
        log.append(n)
        return n <= capacity
    return probe


def test_search_goes_up_in_steps_to_the_first_failure_then_bisects() -> None:
    asked: list[int] = []
    capacity, probes = search_capacity(threshold_probe(13, asked), 10, max_probes=7)
    assert capacity == 13  # step = 10 / 4 -> 2: 10, 12 pass, 14 fails, 13 passes
    assert probes == [(10, True), (12, True), (14, False), (13, True)] and asked == [10, 12, 14, 13]


def test_search_halves_from_a_failing_start_to_the_first_pass_then_bisects() -> None:
    capacity, probes = search_capacity(threshold_probe(6, []), 16, max_probes=7)
    assert capacity == 6
    assert probes == [(16, False), (8, False), (4, True), (6, True), (7, False)]


def test_search_finds_every_threshold_exactly_without_probing_a_size_twice() -> None:
    for start in (1, 2, 5, 16, 33):
        for threshold in range(0, 3 * start + 3):  # the capacity is at most ~2 x start
            capacity, probes = search_capacity(threshold_probe(threshold, []), start,
                                               max_probes=20)
            sizes = [n for n, _ in probes]
            assert capacity == threshold and len(sizes) == len(set(sizes)), (start, threshold)


def test_search_stops_at_max_probes_with_the_largest_size_that_passed() -> None:
    asked: list[int] = []
    capacity, probes = search_capacity(threshold_probe(13, asked), 10, max_probes=3)
    assert capacity == 12 and len(probes) == 3 and asked == [10, 12, 14]
    capacity, probes = search_capacity(threshold_probe(100, []), 10, max_probes=2)
    assert capacity == 12 and probes == [(10, True), (12, True)]


def test_search_where_every_probe_fails_ends_at_one_session_with_capacity_zero() -> None:
    capacity, probes = search_capacity(threshold_probe(0, []), 10, max_probes=7)
    assert capacity == 0 and probes == [(10, False), (5, False), (2, False), (1, False)]


def test_search_where_every_probe_passes_climbs_until_max_probes() -> None:
    capacity, probes = search_capacity(threshold_probe(10_000, []), 8, max_probes=7)
    assert capacity == 20 and [n for n, _ in probes] == [8, 10, 12, 14, 16, 18, 20]
    assert all(ok for _, ok in probes)


def test_search_rejects_a_cap_of_zero_probes() -> None:
    with pytest.raises(ValueError, match="max_probes"):
        search_capacity(threshold_probe(5, []), 4, max_probes=0)


def summary_of(*, ttfa_p95: float | None, underruns: int = 0, errors: int = 0) -> dict:
    """The summary keys ``probe_verdict`` reads."""
    return {"client_ttfa_ms": {"p95": ttfa_p95}, "underruns_total": underruns,
            "sessions_with_errors": errors}


def test_probe_passes_only_without_underruns_or_errors_and_with_ttfa_p95_within_limit() -> None:
    assert probe_verdict(summary_of(ttfa_p95=1000.0), 1000)
    assert not probe_verdict(summary_of(ttfa_p95=1000.1), 1000)
    assert not probe_verdict(summary_of(ttfa_p95=500.0, underruns=1), 1000)
    assert not probe_verdict(summary_of(ttfa_p95=500.0, errors=1), 1000)
    assert not probe_verdict(summary_of(ttfa_p95=None), 1000)


def test_piper_options_are_the_settings_options_plus_the_scheduling_given() -> None:
    configured = settings.STREAMING_PROVIDERS["tts"]["piper"]["OPTIONS"]
    assert piper_options("fifo") == {**configured, "scheduling": "fifo"}
    assert piper_options(None) == configured


class ByteCountTTS:
    """A fake TTS that yields 1 ms of audio per character at once (1,000 Hz, s16le)."""

    sample_rate = 1000

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        self.texts.append(text)
        yield b"\0\0" * len(text)


def test_the_piper_ceiling_is_measured_with_the_regular_workers_only() -> None:
    from streaming.loadcapacity import piper_ceiling

    result = piper_ceiling(words=20, scheduling="deadline", duration_s=0)

    assert result["options"]["urgent_workers"] == 0  # the server's setting is 1
    assert result["options"]["scheduling"] == "deadline" and result["sentences"] == 4


async def test_ceiling_warms_each_worker_then_runs_two_streams_per_worker_over_the_reply() -> None:
    tts = ByteCountTTS()
    result = await measure_ceiling(tts, words=40, workers=2, duration_s=0)

    parts = sentences(simulated_reply(40))
    first = [parts[i % len(parts)] for i in range(4)]  # each stream starts at another one
    # 2 warm-ups, then 4 streams that each synthesize one sentence (the deadline has passed)
    assert tts.texts[:2] == [WARM_TEXT] * 2 and tts.texts[2:] == first
    assert result["streams"] == 4 and result["sentences"] == 4
    assert result["audio_s"] == sum(len(p) for p in first) / 1000
    assert result["audio_s_per_reply"] == len(simulated_reply(40)) / 1000
    assert result["x_realtime"] > 0
