"""The admin's timeline picture: the parallel-synthesis row, retry marks and the legend.

Pure tests: ``timeline_svg`` is fed hand-written timelines (no database, no engine).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

from streaming.timeline_svg import WIDTH, parallel_intervals, timeline_svg

SVG = "{http://www.w3.org/2000/svg}"


def segment_events(index: int, request: float, end: float) -> list[list]:
    """One segment's synthesis: requested at ``request``, audio from 20 ms later, done at
    ``end``."""
    return [[request - 1, "segment_cut", index], [request, "tts_request", index],
            [request + 20, "tts_first_byte", index], [end, "tts_end", index]]


def render(timeline: list[list], **fields: object) -> ET.Element:
    events = sorted(timeline, key=lambda e: e[0])
    session = SimpleNamespace(kind="tts", status="completed", timeline=events,
                              ttfa_ms=None, total_ms=None, error="", end_reason="")
    for name, value in fields.items():
        setattr(session, name, value)
    return ET.fromstring(timeline_svg(session))  # well-formed XML, or this raises


def parallel_row(root: ET.Element) -> ET.Element:
    return root.find(f".//{SVG}g[@id='tl-parallel']")


def pieces(row: ET.Element) -> list[tuple[float, float, int, str]]:
    return [(float(r.get("data-start-ms")), float(r.get("data-end-ms")), int(r.get("data-count")),
             r.get("class")) for r in row.iter(f"{SVG}rect")]


def test_parallel_row_marks_where_segments_1_and_2_were_synthesized_at_once() -> None:
    root = render([[0.0, "text_first", None], [900.0, "text_done", None],
                   *segment_events(0, 10.0, 200.0),
                   *segment_events(1, 250.0, 800.0),
                   *segment_events(2, 400.0, 650.0)])

    row = parallel_row(root)
    assert row.get("class") == "tl-parallel-row"
    assert pieces(row) == [(400.0, 650.0, 2, "tl-parallel tl-par-2")]
    assert row.get("data-max-parallel") == "2"
    assert float(row.get("data-overlap-ms")) == 250.0
    assert "250 ms in total" in row.find(f"{SVG}title").text
    # The row sits between the input row and the first segment's row.
    input_y = float(root.find(f".//{SVG}rect[@id='tl-input-span']").get("y"))
    first_seg_y = float(root.find(f".//{SVG}rect[@id='tl-seg-0-wait']").get("y"))
    assert input_y < float(row.find(f"{SVG}rect").get("y")) < first_seg_y


def test_parallel_row_shades_each_piece_by_how_many_segments_overlap() -> None:
    root = render([*segment_events(0, 0.0, 1000.0), *segment_events(1, 100.0, 900.0),
                   *segment_events(2, 200.0, 800.0), *segment_events(3, 300.0, 400.0),
                   *segment_events(4, 500.0, 600.0), *segment_events(5, 550.0, 560.0)])

    row = parallel_row(root)
    assert [(start, end, count) for start, end, count, _ in pieces(row)] == [
        (100.0, 200.0, 2), (200.0, 300.0, 3), (300.0, 400.0, 4), (400.0, 500.0, 3),
        (500.0, 550.0, 4), (550.0, 560.0, 5), (560.0, 600.0, 4), (600.0, 800.0, 3),
        (800.0, 900.0, 2)]
    assert {cls for *_, cls in pieces(row) if "tl-par-4" in cls}  # 4 and 5 share the 4+ shade
    assert all(cls.endswith(f"tl-par-{min(n, 4)}") for _, _, n, cls in pieces(row))
    assert row.get("data-max-parallel") == "5"
    assert float(row.get("data-overlap-ms")) == 800.0


def test_parallel_row_is_empty_and_says_so_when_no_two_segments_overlap() -> None:
    # Segment 1 is requested exactly when segment 0 ends: touching, not overlapping.
    root = render([*segment_events(0, 0.0, 300.0), *segment_events(1, 300.0, 600.0),
                   *segment_events(2, 700.0, 900.0)])

    row = parallel_row(root)
    assert pieces(row) == []
    assert row.get("data-max-parallel") == "1"
    assert float(row.get("data-overlap-ms")) == 0.0
    assert "no two segments" in row.find(f"{SVG}title").text
    assert any("one segment at a time" in (t.text or "") for t in row.iter(f"{SVG}text"))


def test_a_synthesis_that_never_ended_overlaps_up_to_the_last_event() -> None:
    root = render([*segment_events(0, 0.0, 500.0),
                   [300.0, "tts_request", 1], [700.0, "audio_sent", 0, {"bytes": 4800}]],
                  status="failed")

    assert pieces(parallel_row(root)) == [(300.0, 500.0, 2, "tl-parallel tl-par-2")]


def test_a_retry_is_marked_on_its_segment_row() -> None:
    root = render([*segment_events(0, 0.0, 400.0), [150.0, "tts_retry", 0],
                   *segment_events(1, 200.0, 500.0)])

    seg0 = root.find(f".//{SVG}g[@id='tl-seg-0']")
    marks = [p for p in seg0.iter(f"{SVG}path") if p.get("class") == "tl-retry"]
    assert [m.get("data-ms") for m in marks] == ["150.000"]
    assert "fallback" in marks[0].find(f"{SVG}title").text
    seg1 = root.find(f".//{SVG}g[@id='tl-seg-1']")
    assert not [p for p in seg1.iter(f"{SVG}path") if p.get("class") == "tl-retry"]
    legend = root.find(f".//{SVG}g[@class='tl-legend']")
    assert any("fallback" in (t.text or "") for t in legend.iter(f"{SVG}text"))


def test_legend_explains_the_parallel_shades_and_stays_inside_the_picture() -> None:
    root = render([*segment_events(0, 0.0, 400.0), [150.0, "tts_retry", 0],
                   *segment_events(1, 200.0, 500.0)])

    legend = root.find(f".//{SVG}g[@class='tl-legend']")
    texts = list(legend.iter(f"{SVG}text"))
    assert any("2 / 3 / 4+ segments synthesized at once" == t.text for t in texts)
    assert {r.get("class") for r in legend.iter(f"{SVG}rect")} >= {"tl-par-2", "tl-par-3",
                                                                    "tl-par-4"}
    height = float(root.get("height"))
    for text in texts:  # the legend wraps: no label runs off the right or bottom edge
        assert float(text.get("x")) + 6.2 * len(text.text) <= WIDTH
        assert float(text.get("y")) <= height


def test_parallel_intervals_merge_touching_pieces_and_ignore_touching_spans() -> None:
    assert parallel_intervals([]) == []
    assert parallel_intervals([(0, 10), (10, 20)]) == []
    assert parallel_intervals([(0, 10), (5, 5), (5, 15)]) == [(5, 10, 2)]
    assert parallel_intervals([(0, 10), (0, 5), (5, 10)]) == [(0, 10, 2)]
