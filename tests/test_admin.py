"""The session and conversation admin: pages per kind and status, query counts, filters,
search, the audio view, the timeline picture and the report page."""
from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from streaming.admin.paginator import EstimatedCountPaginator
from streaming.audio import pcm_to_wav
from streaming.models import SegmentRecord, StreamSession
from streaming.timeline_svg import timeline_svg
from voicebot.models import Conversation, Turn

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
CHANGELIST = "admin:streaming_streamsession_changelist"
KINDS = ["tts", "voicebot"]
STATUSES = ["running", "completed", "cancelled", "failed"]

# A parallel stream: the TTS of segments 0 and 1 starts long before the text is done.
PARALLEL_TIMELINE = [
    [0.5, "text_first", None],
    [120.0, "segment_cut", 0],
    [121.0, "tts_request", 0],
    [300.0, "tts_first_byte", 0],
    [302.0, "first_audio", 0],
    [302.5, "audio_sent", 0, {"bytes": 4800}],
    [402.5, "audio_sent", 0, {"bytes": 4800}],
    [450.0, "segment_cut", 1],
    [800.0, "tts_end", 0],
    [801.0, "tts_request", 1],
    [950.0, "tts_first_byte", 1],
    [951.0, "audio_sent", 1, {"bytes": 4800}],
    [1000.0, "text_done", None],
    [1000.5, "segment_cut", 2],
    [1400.0, "tts_end", 1],
    [1401.0, "tts_request", 2],
    [1500.0, "tts_first_byte", 2],
    [1501.0, "audio_sent", 2, {"bytes": 4800}],
    [1700.0, "tts_end", 2],
]
SEGMENTS = [
    {"index": 0, "text": "Well, I think", "cut_ms": 120.0, "request_ms": 121.0,
     "first_byte_ms": 300.0, "end_ms": 800.0, "bytes": 9600, "audio_ms": 200.0},
    {"index": 1, "text": "the answer is yes.", "cut_ms": 450.0, "request_ms": 801.0,
     "first_byte_ms": 950.0, "end_ms": 1400.0, "bytes": 4800, "audio_ms": 100.0},
    {"index": 2, "text": "It was <b>measured</b> & noted.", "cut_ms": 1000.5,
     "request_ms": 1401.0, "first_byte_ms": 1500.0, "end_ms": 1700.0, "bytes": 4800,
     "audio_ms": 100.0},
]


def make_session(kind: str = "tts", status: str = "completed", *, ttfa: float | None = 302.0,
                 created: dt.datetime | None = None, segments: bool = True,
                 **fields: object) -> StreamSession:
    """A session as a stream leaves it: running ones have no timeline or metrics yet; a
    voicebot one with its turn (``Turn`` fields among ``fields`` go to the turn)."""
    turn: dict[str, object] = {}
    values: dict[str, object] = {
        "kind": kind, "status": status, "tts_provider": "simulated", "voice": "alloy",
        "input_text": "Well, I think the answer is yes. It was measured & noted.",
        "sample_rate": 24000,
    }
    if kind == "voicebot":
        conversation = Conversation.objects.create(
            llm_provider="rules", turns=1,
            history=[{"role": "user", "content": "Is it <true>?"},
                     {"role": "assistant", "content": "Well, I think"}])
        values.update(llm_provider="rules", llm_ttft_ms=0.5)
        turn.update(conversation=conversation, number=1, stt_provider="whisper",
                    user_text="Is it <true>?", heard_text="Well, I think", stt_ms=80.0,
                    speech_end_to_audio_ms=812.5, barge_in_stop_ms=140.0,
                    false_interruptions=2)
        turn.update({name: fields.pop(name) for name in list(fields) if name in turn})
    if status != "running":
        values.update(
            ttfa_ms=ttfa, overhead_ms=3.0, first_segment_ms=120.0, tts_ttfb_ms=179.0,
            text_done_ms=1000.0, overlap_ms=698.0, total_ms=1700.0, audio_ms=400.0,
            segment_count=3, bytes_sent=19200, timeline=PARALLEL_TIMELINE,
            output_text="Well, I think the answer is yes. It was measured & noted.",
            ended_at=timezone.now(),
        )
    if status == "failed":
        values.update(error="TTS <provider> exploded", timeline=PARALLEL_TIMELINE[:11],
                      total_ms=960.0)
    if status == "cancelled":
        values.update(end_reason="client", timeline=PARALLEL_TIMELINE[:13], played_ms=250.0)
    values.update(fields)
    session = StreamSession.objects.create(**values)
    if turn:
        Turn.objects.create(session=session, **turn)
    if created is not None:
        StreamSession.objects.filter(pk=session.pk).update(created_at=created)
        session.refresh_from_db()
    if segments and status != "running":
        SegmentRecord.objects.bulk_create(SegmentRecord(session=session, **row)
                                          for row in SEGMENTS)
    return session


def changelist(admin_client, **params: str):
    return admin_client.get(reverse(CHANGELIST), params)


def listed_ids(response) -> set[str]:
    return {str(obj.pk) for obj in response.context["cl"].result_list}


# --- pages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("kind", KINDS)
def test_changelist_and_change_page_render(admin_client, kind: str, status: str) -> None:
    session = make_session(kind, status)

    response = changelist(admin_client)
    assert response.status_code == 200
    assert str(session.pk) in listed_ids(response)
    assert reverse("admin:streaming_streamsession_report") in response.text

    response = admin_client.get(reverse("admin:streaming_streamsession_change",
                                        args=[session.pk]))
    assert response.status_code == 200
    page = response.text
    assert 'id="tl-timeline"' in page
    assert "Well, I think the answer is yes. It was measured &amp; noted." in page
    assert 'name="_save"' not in page  # read-only
    if status == "running":
        assert "still running" in page
    else:
        assert "the answer is yes." in page  # the segments inline
        assert 'class="tl-segment"' in page
    if status == "failed":
        assert "TTS &lt;provider&gt; exploded" in page and "<provider>" not in page
    if kind == "voicebot":  # the turn: its conversation, words, transcription
        conversation_url = reverse("admin:voicebot_conversation_change",
                                   args=[session.voicebot_turn.conversation_id])
        assert conversation_url in page
        assert "Is it &lt;true&gt;?" in page and "<true>" not in page
        assert ">whisper<" in page and ">80.0<" in page
        assert ">812.5<" in page and ">140.0<" in page and ">2<" in page
        assert "Is it &lt;true&gt;?" in page  # user text, escaped, in the turns table
    else:
        assert "field-conversation_link" not in page


def test_changelist_queries_do_not_grow_with_rows(admin_client,
                                                  django_assert_max_num_queries) -> None:
    for _ in range(5):
        make_session("voicebot")
    changelist(admin_client)  # warm up the session and caches
    with CaptureQueriesContext(connection) as few:
        assert len(listed_ids(changelist(admin_client))) == 5
    for i in range(45):
        make_session(KINDS[i % 2], STATUSES[i % 4])
    with django_assert_max_num_queries(len(few)), CaptureQueriesContext(connection) as many:
        assert len(listed_ids(changelist(admin_client))) == 50
    assert len(many) == len(few)
    rows_query = next(q["sql"] for q in many if q["sql"].startswith(
        'SELECT "streaming_streamsession"."id"'))
    assert '"ttfa_ms"' in rows_query
    for heavy in ("timeline", "client_metrics", "output_text"):
        assert f'"{heavy}"' not in rows_query


def test_change_page_query_count_is_bounded(admin_client,
                                            django_assert_max_num_queries) -> None:
    session = make_session("voicebot")
    url = reverse("admin:streaming_streamsession_change", args=[session.pk])
    admin_client.get(url)
    with django_assert_max_num_queries(14):
        assert admin_client.get(url).status_code == 200


def test_latency_bucket_filter(admin_client) -> None:
    fast = make_session(ttfa=120.0, segments=False)
    edge = make_session(ttfa=300.0, segments=False)
    medium = make_session(ttfa=800.0, segments=False)
    slow = make_session(ttfa=800.5, segments=False)
    unknown = make_session(status="running")

    def ids(bucket: str) -> set[str]:
        return listed_ids(changelist(admin_client, ttfa=bucket))

    assert ids("fast") == {str(fast.pk)}
    assert ids("medium") == {str(edge.pk), str(medium.pk)}
    assert ids("slow") == {str(slow.pk)}
    assert ids("unknown") == {str(unknown.pk)}


def test_provider_kind_and_status_filters(admin_client) -> None:
    tts = make_session("tts", segments=False)
    bot = make_session("voicebot", "failed", segments=False, tts_provider="piper")

    assert listed_ids(changelist(admin_client, tts_provider="piper")) == {str(bot.pk)}
    assert listed_ids(changelist(admin_client, llm_provider="rules")) == {str(bot.pk)}
    assert listed_ids(changelist(admin_client, llm_provider="-")) == {str(tts.pk)}
    assert listed_ids(changelist(admin_client, stt_provider="whisper")) == {str(bot.pk)}
    assert listed_ids(changelist(admin_client, stt_provider="-")) == {str(tts.pk)}
    conversation = str(bot.voicebot_turn.conversation_id)
    assert listed_ids(changelist(admin_client, conversation=conversation)) == {str(bot.pk)}
    assert listed_ids(changelist(admin_client, conversation="not-a-uuid")) == set()
    assert listed_ids(changelist(admin_client, kind__exact="tts")) == {str(tts.pk)}
    assert listed_ids(changelist(admin_client, status__exact="failed")) == {str(bot.pk)}


def test_search_by_uuid_and_text(admin_client) -> None:
    one = make_session(segments=False, input_text="The quick brown fox.")
    two = make_session("voicebot", segments=False, user_text="What about the weather?")

    assert listed_ids(changelist(admin_client, q=str(one.pk))) == {str(one.pk)}
    assert listed_ids(changelist(admin_client, q=f" {str(one.pk).upper()} ")) == {str(one.pk)}
    assert listed_ids(changelist(admin_client, q=one.pk.hex)) == {str(one.pk)}
    assert listed_ids(changelist(admin_client, q=str(uuid.uuid4()))) == set()
    conversation = str(two.voicebot_turn.conversation_id)
    assert listed_ids(changelist(admin_client, q=conversation)) == {str(two.pk)}
    assert listed_ids(changelist(admin_client, q="brown fox")) == {str(one.pk)}
    assert listed_ids(changelist(admin_client, q="weather")) == {str(two.pk)}


# --- audio ---------------------------------------------------------------------------------
@pytest.fixture
def session_with_audio() -> tuple[StreamSession, bytes]:
    session = make_session(segments=False)
    wav = pcm_to_wav(bytes(range(256)) * 40, 24000)
    session.audio.save(f"{session.pk}.wav", ContentFile(wav))
    return session, wav


def audio_url(session: StreamSession) -> str:
    return reverse("admin:streaming_streamsession_audio", args=[session.pk])


def test_audio_view_serves_the_wav_to_staff(admin_client, session_with_audio) -> None:
    session, wav = session_with_audio

    response = admin_client.get(audio_url(session))

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert int(response["Content-Length"]) == len(wav)
    assert b"".join(response.streaming_content) == wav
    page = admin_client.get(reverse("admin:streaming_streamsession_change",
                                    args=[session.pk])).text
    assert f'<audio controls preload="metadata" src="{audio_url(session)}"' in page


def test_audio_view_honours_a_byte_range(admin_client, session_with_audio) -> None:
    session, wav = session_with_audio

    response = admin_client.get(audio_url(session), headers={"range": "bytes=10-19"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-19/{len(wav)}"
    assert b"".join(response.streaming_content) == wav[10:20]

    response = admin_client.get(audio_url(session), headers={"range": "bytes=-4"})
    assert b"".join(response.streaming_content) == wav[-4:]
    response = admin_client.get(audio_url(session), headers={"range": f"bytes={len(wav)}-"})
    assert response.status_code == 416

    response = admin_client.get(audio_url(session), {"download": "1"})
    assert response["Content-Disposition"].startswith("attachment")


def test_audio_view_refuses_anonymous_and_non_staff(client, django_user_model,
                                                    session_with_audio) -> None:
    session, _ = session_with_audio

    response = client.get(audio_url(session))
    assert response.status_code == 302 and "/login/" in response["Location"]

    user = django_user_model.objects.create_user("listener", password="pw")
    client.force_login(user)
    response = client.get(audio_url(session))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_audio_view_without_audio_is_404(admin_client) -> None:
    session = make_session(segments=False)
    assert admin_client.get(audio_url(session)).status_code == 404
    missing = reverse("admin:streaming_streamsession_audio", args=[uuid.uuid4()])
    assert admin_client.get(missing).status_code == 404


def test_admin_delete_action_removes_audio_files(admin_client, session_with_audio,
                                                 django_capture_on_commit_callbacks) -> None:
    session, _ = session_with_audio
    storage, name = session.audio.storage, session.audio.name
    assert storage.exists(name)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse(CHANGELIST), {
            "action": "delete_selected", "_selected_action": [str(session.pk)], "post": "yes",
        })

    assert response.status_code == 302
    assert not StreamSession.objects.filter(pk=session.pk).exists()
    assert not storage.exists(name)


# --- the timeline picture --------------------------------------------------------------------
def parse_svg(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_svg_has_one_group_per_segment_and_shows_the_parallelism() -> None:
    session = SimpleNamespace(kind="voicebot", status="completed", timeline=PARALLEL_TIMELINE,
                              ttfa_ms=302.0, total_ms=1700.0, error="", end_reason="",
                              llm_provider="rules")
    root = parse_svg(timeline_svg(session, SEGMENTS))
    input_row = root.find(f".//{SVG}g[@id='tl-input']/{SVG}text").text
    assert input_row == "LLM answer text"  # an LLM wrote the input
    session.llm_provider = ""
    assert parse_svg(timeline_svg(session, SEGMENTS)).find(
        f".//{SVG}g[@id='tl-input']/{SVG}text").text == "Input text"

    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "tl-segment"]
    assert [g.get("id") for g in groups] == ["tl-seg-0", "tl-seg-1", "tl-seg-2"]
    rects = {r.get("id"): r for r in root.iter(f"{SVG}rect") if r.get("id")}
    llm = rects["tl-input-span"]
    assert float(llm.get("data-start-ms")) == 0.5 and float(llm.get("data-end-ms")) == 1000.0
    llm_end_x = float(llm.get("x")) + float(llm.get("width"))
    for index in (0, 1):  # both segments are being synthesized while the LLM still writes
        wait = rects[f"tl-seg-{index}-wait"]
        assert float(wait.get("data-start-ms")) < float(llm.get("data-end-ms"))
        assert float(wait.get("x")) < llm_end_x
        assert "tl-synth" in rects[f"tl-seg-{index}-synth"].get("class")
    assert root.find(f".//{SVG}g[@id='tl-ttfa']").get("data-ms") == "302.000"
    frames = [p.get("data-frames") for g in groups for p in g.iter(f"{SVG}path")]
    assert frames == ["2", "1", "1"]


def test_svg_escapes_text() -> None:
    hostile = [{**SEGMENTS[0], "text": '</text><script>alert("x")</script>'}]
    session = SimpleNamespace(kind="tts", status="failed", timeline=PARALLEL_TIMELINE[:6],
                              ttfa_ms=None, total_ms=None, error="<img src=x onerror=1>",
                              end_reason="")
    svg = timeline_svg(session, hostile)

    parse_svg(svg)
    assert "<script>" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg and "&lt;img" in svg


def test_svg_of_a_failed_or_empty_session() -> None:
    failed = SimpleNamespace(kind="tts", status="failed", timeline=PARALLEL_TIMELINE[:10],
                             ttfa_ms=302.0, total_ms=900.0, error="boom", end_reason="")
    svg = timeline_svg(failed)  # times from the timeline alone
    root = parse_svg(svg)
    open_spans = [r for r in root.iter(f"{SVG}rect") if "tl-open" in (r.get("class") or "")]
    assert {r.get("id") for r in open_spans} == {"tl-input-span", "tl-seg-1-wait"}
    assert "boom" in svg

    for status in ("running", "failed", "completed"):
        empty = SimpleNamespace(status=status, timeline=[], error="")
        root = parse_svg(timeline_svg(empty))
        assert "tl-empty" in root.get("class")
    garbage = SimpleNamespace(status="completed", timeline=[None, [1], ["x", "y", 0], 5])
    assert "tl-empty" in timeline_svg(garbage)


def test_svg_runs_no_query(django_assert_num_queries) -> None:
    session = StreamSession(kind="tts", status="completed", timeline=PARALLEL_TIMELINE)
    with django_assert_num_queries(0):
        timeline_svg(session, [SegmentRecord(**row) for row in SEGMENTS])


# --- report page, conversations, paginator -------------------------------------------------------
def test_report_page(admin_client, client) -> None:
    make_session(ttfa=250.0, segments=False)
    make_session("voicebot", ttfa=900.0, segments=False)
    url = reverse("admin:streaming_streamsession_report")

    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.text
    assert 'id="ttfa-chart"' in page and "nearest-rank" in page
    assert page.count('class="report-table"') == 3
    assert "simulated · alloy" in page
    assert timezone.localdate().isoformat() in page
    for heading, _, rows in response.context["tables"]:  # each row links to its sessions
        for row in rows:
            listing = admin_client.get(row["link"])
            assert listing.context["cl"].result_count == row["sessions"], heading

    response = admin_client.get(url, {"since": "2020-01-02", "until": "2020-01-01"})
    assert "The period ends before it starts." in response.text
    response = admin_client.get(url, {"since": "2026-01-01", "until": "9999-12-31"})
    assert response.status_code == 200 and "366 days at most" in response.text
    response = admin_client.get(url, {"since": "bad", "until": "2020-01-01"})
    assert response.status_code == 200 and "Enter a valid date." in response.text
    assert client.get(url).status_code == 302


def test_conversation_admin_shows_turns_and_history(admin_client) -> None:
    session = make_session("voicebot")
    conversation_id = session.voicebot_turn.conversation_id
    url = reverse("admin:voicebot_conversation_change", args=[conversation_id])

    page = admin_client.get(url).text

    assert "Is it &lt;true&gt;?" in page  # history and turn, escaped
    assert reverse("admin:streaming_streamsession_change", args=[session.pk]) in page
    listing = admin_client.get(reverse("admin:voicebot_conversation_changelist"),
                               {"q": str(conversation_id)})
    assert listing.context["cl"].result_count == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL estimate")
def test_paginator_uses_the_estimate_on_a_large_unfiltered_postgres_table(monkeypatch) -> None:
    for _ in range(30):
        make_session(segments=False, status="running")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE streaming_streamsession")
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", 10)

    with CaptureQueriesContext(connection) as queries:
        assert EstimatedCountPaginator(StreamSession.objects.all(), 10).count == 30
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    filtered = EstimatedCountPaginator(StreamSession.objects.filter(kind="voicebot"), 10)
    assert filtered.count == 0  # filtered: exact


def test_paginator_counts_exactly_on_small_tables() -> None:
    for _ in range(3):
        make_session(segments=False, status="running")
    assert EstimatedCountPaginator(StreamSession.objects.all(), 2).count == 3


def test_the_session_page_shows_milliseconds_with_at_most_one_decimal(admin_client) -> None:
    session = make_session(ttfa=336.45512345678, overhead_ms=0.12345678, overlap_ms=-151.74912)
    SegmentRecord.objects.filter(session=session, index=1).update(
        audio_offset_ms=2438.0952380952385, request_ms=801.2950000000001)

    page = admin_client.get(reverse("admin:streaming_streamsession_change",
                                    args=[session.pk])).text

    for raw in ("2438.0952380952385", "801.2950000000001", "336.45512345678", "0.12345678",
                "151.74912"):
        assert raw not in page
    for shown in ("2,438.1", "801.3", "336.5", "0.1", "-151.7"):
        assert any(f">{shown}{end}" in page for end in "<: "), shown


def test_a_segments_words_show_when_each_is_said_and_text_without_timings_stays_plain(
        admin_client) -> None:
    session = make_session()
    SegmentRecord.objects.filter(session=session, index=0).update(
        words=[["Well,", 0.0, 212.4], ["I", 260.0, 330.0], ["<think>", 330.0, 1250.0]])

    page = admin_client.get(reverse("admin:streaming_streamsession_change",
                                    args=[session.pk])).text

    assert ('<span class="word" title="0–212 ms">Well,</span> <span class="word" '
            'title="260–330 ms">I</span> <span class="word" title="330–1,250 ms">'
            '&lt;think&gt;</span>') in page
    assert "It was &lt;b&gt;measured&lt;/b&gt; &amp; noted." in page  # no timings: as written


def test_a_negative_overlap_says_that_audio_started_after_the_text_was_complete(
        admin_client) -> None:
    late = make_session("voicebot", overlap_ms=-151.74912, segments=False)
    make_session(overlap_ms=698.0, segments=False)
    after = "audio started after the text was complete"

    listing = changelist(admin_client).text
    detail = admin_client.get(reverse("admin:streaming_streamsession_change",
                                      args=[late.pk])).text
    turns = admin_client.get(reverse("admin:voicebot_conversation_change",
                                     args=[late.voicebot_turn.conversation_id])).text

    assert listing.count(after) == 1  # the late session's row, not the other one
    assert "-151.7: audio started 151.7 ms after the text was complete" in detail
    assert after in turns
    early = admin_client.get(reverse("admin:streaming_streamsession_change",
                                     args=[StreamSession.objects.exclude(pk=late.pk).get().pk]))
    assert "698.0: audio started 698.0 ms before the text was complete" in early.text


def test_the_report_gives_each_metric_of_a_group_a_row_and_leaves_out_those_it_lacks(
        admin_client) -> None:
    make_session(ttfa=250.0, segments=False)  # text to speech: no LLM, no STT

    response = admin_client.get(reverse("admin:streaming_streamsession_report"))

    for _, _, rows in response.context["tables"]:
        [row] = rows
        labels = [cell["label"] for cell in row["cells"]]
        assert labels == ["TTFA", "overhead", "TTS TTFB", "first segment"]
        assert row["cells"][0]["n"] == 1 and row["cells"][0]["values"] == [250.0] * 3
    assert response.text.count('<tr class="group-start">') == 3  # one group per table
    assert '<th scope="row" class="metric">TTS TTFB</th>' in response.text


def test_the_report_page_leaves_replays_out_unless_asked(admin_client) -> None:
    original = make_session(ttfa=250.0, segments=False)
    make_session(ttfa=9000.0, segments=False, replay_of=original, end_reason="replay")
    url = reverse("admin:streaming_streamsession_report")
    today = timezone.localdate().isoformat()

    default = admin_client.get(url)
    asked = admin_client.get(url, {"since": today, "until": today, "include_replays": "on"})

    assert default.context["total"] == 1 and "replays not counted" in default.text
    assert asked.context["total"] == 2
    assert 'name="include_replays"' in default.text
    for response, sessions in ((default, 1), (asked, 2)):  # each row lists what it counted
        for _, _, rows in response.context["tables"]:
            assert [row["sessions"] for row in rows] == [sessions]
            assert admin_client.get(rows[0]["link"]).context["cl"].result_count == sessions
