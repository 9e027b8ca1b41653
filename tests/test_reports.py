"""Latency report: nearest-rank percentiles on known data, groupings, period, command."""
from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from streaming.models import StreamSession
from streaming.reports import (
    in_period,
    latency_report,
    latency_reports,
    summarize,
    ttfa_chart_svg,
)

DAY1 = dt.date(2026, 3, 10)
DAY2 = dt.date(2026, 3, 11)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def add_sessions(created: dt.datetime, ttfas: list[float | None], *, provider: str = "piper",
                 voice: str = "", kind: str = "tts", **metrics: float | None) -> None:
    """Sessions with these TTFAs (and fixed other metrics), created at ``created``."""
    made = StreamSession.objects.bulk_create(
        StreamSession(kind=kind, status="completed", tts_provider=provider, voice=voice,
                      ttfa_ms=ttfa, **metrics)
        for ttfa in ttfas
    )
    StreamSession.objects.filter(pk__in=[s.pk for s in made]).update(created_at=created)


@pytest.fixture
def known_data(db) -> None:
    """piper: TTFA 1..100 on day 1; openai: 10, 20, 30 and one unknown on day 2."""
    add_sessions(at(DAY1, 9), [float(v) for v in range(1, 51)], voice="joe",
                 overhead_ms=5.0, tts_ttfb_ms=100.0)
    add_sessions(at(DAY1, 23), [float(v) for v in range(51, 101)], voice="amy",
                 overhead_ms=7.0, tts_ttfb_ms=120.0)
    add_sessions(at(DAY2, 0), [30.0, 10.0, 20.0, None], provider="openai", kind="voicebot",
                 llm_ttft_ms=250.0, llm_queue_ms=12.0, first_segment_ms=80.0)
    add_sessions(at(DAY2 + dt.timedelta(days=5)), [999.0])  # outside the period


def test_summaries_take_nearest_rank_percentiles() -> None:
    assert summarize([3.0, 1.0, 2.0]) == {"count": 3, "p50": 2.0, "p90": 3.0, "p99": 3.0}
    assert summarize([1.0, 2.0, 3.0, 4.0])["p50"] == 2.0  # linear would say 2.5
    assert summarize([]) == {"count": 0, "p50": None, "p90": None, "p99": None}


def period() -> object:
    return in_period(StreamSession.objects.all(), DAY1, DAY2)


def test_report_by_provider(known_data) -> None:
    rows = latency_report(period(), group_by="provider")

    assert [row["group"] for row in rows] == ["openai", "piper"]
    openai, piper = rows
    assert piper["sessions"] == 100
    assert piper["ttfa_ms"] == {"count": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0}
    assert piper["overhead_ms"] == {"count": 100, "p50": 5.0, "p90": 7.0, "p99": 7.0}
    assert piper["tts_ttfb_ms"]["p50"] == 100.0 and piper["tts_ttfb_ms"]["p90"] == 120.0
    assert piper["llm_ttft_ms"] == {"count": 0, "p50": None, "p90": None, "p99": None}
    assert openai["sessions"] == 4
    assert openai["ttfa_ms"] == {"count": 3, "p50": 20.0, "p90": 30.0, "p99": 30.0}
    assert openai["llm_ttft_ms"]["p99"] == 250.0


def test_report_by_day_and_voice(known_data) -> None:
    reports = latency_reports(period())

    by_day = reports["day"]
    assert [(row["day"], row["sessions"]) for row in by_day] == [(DAY1, 100), (DAY2, 4)]
    assert by_day[0]["ttfa_ms"] == {"count": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0}
    assert by_day[1]["ttfa_ms"]["p50"] == 20.0
    assert [row["group"] for row in reports["voice"]] == [
        "openai · (default voice)", "piper · amy", "piper · joe"]
    joe = reports["voice"][2]
    assert joe["ttfa_ms"] == {"count": 50, "p50": 25.0, "p90": 45.0, "p99": 50.0}
    assert reports["provider"] == latency_report(period(), group_by="provider")


def test_period_and_kind(known_data) -> None:
    everything = latency_report(StreamSession.objects.all(), group_by="provider")
    assert sum(row["sessions"] for row in everything) == 105
    only_day2 = in_period(StreamSession.objects.all(), DAY2, DAY2, "voicebot")
    assert [row["sessions"] for row in latency_report(only_day2, group_by="day")] == [4]
    with pytest.raises(ValueError):
        latency_report(period(), group_by="weekday")


def test_chart_has_a_bar_group_per_day_with_data(known_data) -> None:
    svg = ttfa_chart_svg(latency_report(period(), group_by="day"), DAY1, DAY2 + dt.timedelta(1))
    assert svg.count('class="day"') == 2
    assert f'data-day="{DAY1.isoformat()}"' in svg and "p50 50.0 ms" in svg


def run(*args: str) -> str:
    out = StringIO()
    call_command("latency_report", *args, stdout=out)
    return out.getvalue()


def test_command_table(known_data) -> None:
    output = run("--since", DAY1.isoformat(), "--until", DAY2.isoformat())

    lines = output.splitlines()
    assert "104 sessions" in lines[0] and "nearest-rank" in lines[0]
    assert lines[1].split() == ["TTFA", "overhead", "TTS", "TTFB", "LLM", "queue", "LLM",
                                "TTFT", "first", "segment", "STT", "speech", "end", "→",
                                "audio", "barge-in", "stop"]
    assert lines[2].split()[:6] == ["group", "sessions", "n", "p50", "p90", "p99"]
    piper = next(line for line in lines if line.startswith("piper"))
    assert piper.split()[:6] == ["piper", "100", "100", "50.0", "90.0", "99.0"]
    by_day = run("--since", DAY1.isoformat(), "--until", DAY2.isoformat(), "--by", "day",
                 "--kind", "voicebot")
    assert by_day.splitlines()[-1].split()[:6] == [DAY2.isoformat(), "4", "3", "20.0", "30.0",
                                                   "30.0"]


def test_the_voicebots_turn_taking_metrics_are_reported_with_its_sessions(known_data) -> None:
    from voicebot.models import Turn

    bots = StreamSession.objects.filter(kind="voicebot").order_by("ttfa_ms")[:3]
    for index, session in enumerate(bots):
        Turn.objects.create(session=session, speech_end_to_audio_ms=700.0 + 100 * index,
                            barge_in_stop_ms=150.0 if index == 0 else None,
                            stt_ms=300.0 if index else None)

    data = json.loads(run("--since", DAY1.isoformat(), "--until", DAY2.isoformat(),
                          "--kind", "voicebot", "--json"))

    [openai] = data["rows"]
    assert openai["voicebot_turn__speech_end_to_audio_ms"] == {
        "count": 3, "p50": 800.0, "p90": 900.0, "p99": 900.0}
    assert openai["voicebot_turn__barge_in_stop_ms"]["count"] == 1
    assert openai["voicebot_turn__stt_ms"] == {"count": 2, "p50": 300.0, "p90": 300.0,
                                               "p99": 300.0}
    assert openai["llm_queue_ms"] == {"count": 4, "p50": 12.0, "p90": 12.0, "p99": 12.0}
    assert openai["first_segment_ms"]["p50"] == 80.0


def test_command_json(known_data) -> None:
    data = json.loads(run("--since", DAY1.isoformat(), "--until", DAY2.isoformat(), "--by",
                          "day", "--json"))
    assert data["percentiles"] == "nearest-rank" and data["by"] == "day"
    assert [row["group"] for row in data["rows"]] == [DAY1.isoformat(), DAY2.isoformat()]
    assert data["rows"][0]["ttfa_ms"] == {"count": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0}


@pytest.mark.django_db
def test_command_defaults_to_the_last_seven_days() -> None:
    add_sessions(timezone.now(), [42.0])
    add_sessions(timezone.now() - dt.timedelta(days=8), [1.0])
    output = run("--json")
    data = json.loads(output)
    assert data["until"] == timezone.localdate().isoformat()
    assert [row["sessions"] for row in data["rows"]] == [1]
    assert "No sessions in this period." in run("--since", "2001-01-01", "--until", "2001-01-02")
    assert "No sessions in this period." not in run("--since", DAY1.isoformat(),
                                                    "--until", "9999-12-31")


@pytest.mark.django_db
@pytest.mark.parametrize("args", [
    ("--since", "2026-13-01"), ("--until", "yesterday"), ("--since", "2026-03-02",
                                                          "--until", "2026-03-01"),
])
def test_command_rejects_bad_dates(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.django_db
def test_replays_are_not_counted_unless_asked() -> None:
    add_sessions(at(DAY1), [100.0, 200.0])
    original = StreamSession.objects.first()
    replay = StreamSession.objects.create(kind="tts", status="completed", tts_provider="piper",
                                          ttfa_ms=5000.0, replay_of=original,
                                          end_reason="replay")
    orphan = StreamSession.objects.create(kind="tts", status="completed", tts_provider="piper",
                                          ttfa_ms=6000.0, end_reason="replay")  # original gone
    StreamSession.objects.filter(pk__in=[replay.pk, orphan.pk]).update(created_at=at(DAY1))

    [counted] = latency_report(period(), group_by="provider")
    [everything] = latency_report(in_period(StreamSession.objects.all(), DAY1, DAY2,
                                            include_replays=True), group_by="provider")
    default = json.loads(run("--since", DAY1.isoformat(), "--until", DAY2.isoformat(),
                             "--json"))
    asked = json.loads(run("--since", DAY1.isoformat(), "--until", DAY2.isoformat(), "--json",
                           "--include-replays"))

    assert counted["sessions"] == 2 and counted["ttfa_ms"]["p99"] == 200.0
    assert everything["sessions"] == 4 and everything["ttfa_ms"]["p99"] == 6000.0
    assert default["include_replays"] is False and default["rows"][0]["sessions"] == 2
    assert asked["include_replays"] is True and asked["rows"][0]["sessions"] == 4
    assert "replays not counted" in run("--since", DAY1.isoformat(), "--until",
                                        DAY2.isoformat()).splitlines()[0]
