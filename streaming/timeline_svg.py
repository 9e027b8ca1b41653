"""Server-side SVG picture of a session's timeline: the parallel streams at a glance.

``timeline_svg(session, segments)`` is a pure function of the session's ``timeline`` (the
engine's ``[t_ms, name, index]`` / ``[t_ms, name, index, {data}]`` events) and of the
segment records it is given: it runs no query of its own. Rows, top to bottom:

- the input text span (the LLM answer on the voicebot), ``text_first`` -> ``text_done``;
- the parallel synthesis (``<g class="tl-parallel-row" id="tl-parallel">``): the intervals
  during which two or more segments were being synthesized at once (each one from its
  ``tts_request`` to its ``tts_end``), shaded by how many (``tl-par-2``, ``tl-par-3``,
  ``tl-par-4`` for four or more), with ``data-max-parallel`` and ``data-overlap-ms``;
- one group per segment (``<g class="tl-segment" id="tl-seg-N">``): its cut (a tick), the
  wait in the queue (cut -> TTS request, a thin line), the TTS wait (request -> first byte,
  ``tl-wait``), the synthesis (first byte -> end, ``tl-synth``) and the audio frames sent
  (``tl-audio`` ticks under the bars), and a ``tl-retry`` mark where the segment was asked
  again from a fallback TTS (``tts_retry``);

with a dashed TTFA marker, a millisecond axis with ticks, and a legend. Spans that never
ended (a failed or cancelled stream) are drawn open-ended (``tl-open``) up to the last
event. Every rect carries ``data-start-ms`` / ``data-end-ms``. All text is escaped.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.utils.html import escape

from streaming.stats import format_ms

WIDTH = 960
LABEL_W = 200
RIGHT = 28
TOP = 30
ROW_H = 22
BAR_H = 12
AXIS_H = 40
LEGEND_LINE_H = 18
MAX_SEGMENT_ROWS = 200
LABEL_CHARS = 24

STYLE = """
.tl-svg text{font:11px system-ui,sans-serif;fill:var(--body-fg,#222)}
.tl-svg .tl-muted{fill:var(--body-quiet-color,#666)}
.tl-svg .tl-grid{stroke:var(--hairline-color,#e2e2e2);stroke-width:1}
.tl-svg .tl-axis{stroke:var(--body-fg,#333);stroke-width:1}
.tl-svg .tl-row{fill:var(--darkened-bg,#f6f6f6)}
.tl-svg .tl-input{fill:#6c8ebf}
.tl-svg .tl-wait{fill:#f0c36d}
.tl-svg .tl-synth{fill:#5aa469}
.tl-svg .tl-open{opacity:.45;stroke:#b33;stroke-dasharray:3 2}
.tl-svg .tl-queue{stroke:#999;stroke-width:1;stroke-dasharray:2 2}
.tl-svg .tl-cut{stroke:#333;stroke-width:2}
.tl-svg .tl-audio{stroke:#174026;stroke-width:1.5}
.tl-svg .tl-ttfa{stroke:#d9534f;stroke-width:1.5;stroke-dasharray:5 3}
.tl-svg .tl-ttfa-label{fill:#d9534f;font-weight:bold}
.tl-svg .tl-error{fill:#b33}
.tl-svg .tl-par-2{fill:#cdbdf0}
.tl-svg .tl-par-3{fill:#9d7fdc}
.tl-svg .tl-par-4{fill:#5e3fae}
.tl-svg .tl-retry{stroke:#c0392b;stroke-width:2;fill:#c0392b}
"""


@dataclass
class _Segment:
    """One segment's times (ms), merged from the timeline and its record."""

    index: int
    text: str = ""
    cut: float | None = None
    request: float | None = None
    first_byte: float | None = None
    end: float | None = None
    audio: list[float] = field(default_factory=list)
    retries: list[float] = field(default_factory=list)


@dataclass
class _Parsed:
    """What the picture needs from a timeline."""

    text_first: float | None = None
    text_done: float | None = None
    first_audio: float | None = None
    last: float = 0.0
    segments: dict[int, _Segment] = field(default_factory=dict)


def _num(value: object) -> float | None:
    """A finite number, else None (the timeline is stored JSON: trust nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _attr(record: object, name: str) -> object:
    """A field of a segment record, given as a model instance or a mapping."""
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def _parse(timeline: object, records: Iterable[object]) -> _Parsed:
    """Merge the timeline's events and the segment records into per-row times."""
    parsed = _Parsed()
    segs = parsed.segments

    def seg(index: int) -> _Segment:
        return segs.setdefault(index, _Segment(index))

    for event in timeline if isinstance(timeline, list) else []:
        if not isinstance(event, list | tuple) or len(event) < 3:
            continue
        t, name, index = _num(event[0]), event[1], event[2]
        if t is None or not isinstance(name, str):
            continue
        parsed.last = max(parsed.last, t)
        index = int(index) if _num(index) is not None else None
        if name == "text_first" and parsed.text_first is None:
            parsed.text_first = t
        elif name == "text_done" and parsed.text_done is None:
            parsed.text_done = t
        elif name == "first_audio" and parsed.first_audio is None:
            parsed.first_audio = t
        elif index is None:
            continue
        elif name == "segment_cut":
            seg(index).cut = t
        elif name == "tts_request":
            seg(index).request = t
        elif name == "tts_first_byte":
            seg(index).first_byte = t
        elif name == "tts_end":
            seg(index).end = t
        elif name == "audio_sent":
            seg(index).audio.append(t)
        elif name == "tts_retry":
            seg(index).retries.append(t)
    for record in records:
        index = _num(_attr(record, "index"))
        if index is None:
            continue
        row = seg(int(index))
        row.text = str(_attr(record, "text") or "")
        for attr, name in (("cut", "cut_ms"), ("request", "request_ms"),
                           ("first_byte", "first_byte_ms"), ("end", "end_ms")):
            value = _num(_attr(record, name))
            if getattr(row, attr) is None and value is not None:
                setattr(row, attr, value)
                parsed.last = max(parsed.last, value)
    return parsed


def nice_step(span: float, target_ticks: int = 8) -> float:
    """A 1-2-5 tick step giving about ``target_ticks`` ticks over ``span``."""
    raw = max(span, 1e-9) / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover


def _fmt(ms: float | None) -> str:
    """Milliseconds for a label: whole, grouped, with the unit."""
    return format_ms(ms, decimals=0, grouping=True, unit=" ms", missing="–")


def _short(text: str, limit: int) -> str:
    """Text cut to ``limit`` characters, with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parallel_intervals(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float, int]]:
    """The intervals during which two or more ``(start, end)`` spans run at once.

    Returns ``(start, end, count)`` pieces in time order, each with the number of spans
    running throughout it (pieces of equal count that touch are merged). Spans that only
    touch (one ends where the next starts) do not overlap; empty spans are ignored.
    """
    edges: list[tuple[float, int]] = []
    for start, end in spans:
        if end > start:
            edges += [(start, 1), (end, -1)]
    edges.sort()  # at equal times the ends (-1) come before the starts (+1)
    pieces: list[tuple[float, float, int]] = []
    running = 0
    since = 0.0
    for t, step in edges:
        if running >= 2 and t > since:
            if pieces and pieces[-1][2] == running and pieces[-1][1] == since:
                pieces[-1] = (pieces[-1][0], t, running)
            else:
                pieces.append((since, t, running))
        running += step
        since = t
    return pieces


def _synthesis_spans(parsed: _Parsed, t_end: float) -> list[tuple[float, float]]:
    """Each segment's synthesis, from its TTS request to its end (open: to ``t_end``)."""
    spans = []
    for seg in parsed.segments.values():
        start = seg.request if seg.request is not None else seg.first_byte
        if start is not None:
            spans.append((start, seg.end if seg.end is not None else t_end))
    return spans


def timeline_svg(session: object, segments: Iterable[object] | None = None, *,
                 id_prefix: str = "tl") -> str:
    """The session's timeline as an SVG document fragment (a string, already escaped).

    ``session`` needs ``timeline`` and may have ``status``, ``kind``, ``ttfa_ms``,
    ``total_ms``, ``error`` and ``end_reason``; ``segments`` are its segment records (model
    instances or dicts with ``index``, ``text``, ``cut_ms``, ``request_ms``,
    ``first_byte_ms``, ``end_ms``), used for labels and for times the timeline lacks.
    """
    status = str(getattr(session, "status", "") or "")
    kind = str(getattr(session, "kind", "") or "")
    parsed = _parse(getattr(session, "timeline", None), segments or ())
    p = escape(id_prefix)
    ttfa = _num(getattr(session, "ttfa_ms", None))
    if ttfa is None:
        ttfa = parsed.first_audio
    total = _num(getattr(session, "total_ms", None))
    if not parsed.segments and parsed.text_first is None and parsed.text_done is None:
        return _empty_svg(p, status, str(getattr(session, "error", "") or ""))

    rows = sorted(parsed.segments.values(), key=lambda s: s.index)
    hidden = max(0, len(rows) - MAX_SEGMENT_ROWS)
    rows = rows[:MAX_SEGMENT_ROWS]
    t_end = max(parsed.last, total or 0.0, ttfa or 0.0, 1.0)
    step = nice_step(t_end)
    t_max = math.ceil(t_end / step) * step
    plot_w = WIDTH - LABEL_W - RIGHT
    spans = _synthesis_spans(parsed, t_end)
    parallel = parallel_intervals(spans)
    n_rows = 2 + len(rows) + (1 if hidden else 0)
    plot_bottom = TOP + n_rows * ROW_H
    legend, legend_h = _legend(plot_bottom + AXIS_H + 4,
                               any(seg.retries for seg in rows))
    height = plot_bottom + AXIS_H + legend_h

    def x(t: float) -> float:
        return LABEL_W + max(0.0, min(t, t_max)) / t_max * plot_w

    def rect(cls: str, start: float, end: float | None, y: float, rid: str = "") -> str:
        open_ended = end is None
        stop = t_end if end is None else max(end, start)
        width = max(x(stop) - x(start), 1.0)
        classes = f"{cls} tl-open" if open_ended else cls
        id_attr = f' id="{p}-{rid}"' if rid else ""
        end_attr = "" if open_ended else f' data-end-ms="{stop:.3f}"'
        title = f"{_fmt(start)} → {'(never ended)' if open_ended else _fmt(stop)}"
        return (f'<rect{id_attr} class="{classes}" x="{x(start):.1f}" y="{y:.1f}" '
                f'width="{width:.1f}" height="{BAR_H}" data-start-ms="{start:.3f}"{end_attr}>'
                f"<title>{escape(title)}</title></rect>")

    out: list[str] = []
    title = f"Timeline of a {kind or 'stream'} session ({status or 'unknown status'})"
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="tl-svg" id="{p}-timeline" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-labelledby="{p}-title" style="max-width:100%;height:auto">'
        f'<title id="{p}-title">{escape(title)}</title><style>{STYLE}</style>'
    )
    # Status line.
    note = f"{status or 'unknown'}"
    if status == "running":
        note += " (still running: times so far)"
    end_reason = str(getattr(session, "end_reason", "") or "")
    if end_reason:
        note += f" ({end_reason})"
    error = str(getattr(session, "error", "") or "")
    cls = "tl-error" if status == "failed" or error else "tl-muted"
    if error:
        note += f": {_short(error, 110)}"
    out.append(f'<text class="{cls}" id="{p}-status" x="4" y="14">{escape(note)}</text>')

    # Grid and axis.
    ticks = [i * step for i in range(round(t_max / step) + 1)]
    out.append(f'<g class="tl-axis-group" id="{p}-axis">')
    for t in ticks:
        xt = x(t)
        out.append(f'<line class="tl-grid" x1="{xt:.1f}" y1="{TOP - 4}" x2="{xt:.1f}" '
                   f'y2="{plot_bottom}"/>')
        out.append(f'<line class="tl-axis" x1="{xt:.1f}" y1="{plot_bottom}" x2="{xt:.1f}" '
                   f'y2="{plot_bottom + 5}"/>')
        out.append(f'<text class="tl-tick" x="{xt:.1f}" y="{plot_bottom + 17}" '
                   f'text-anchor="middle">{format_ms(t, decimals=0, grouping=True)}</text>')
    out.append(f'<line class="tl-axis" x1="{LABEL_W}" y1="{plot_bottom}" '
               f'x2="{LABEL_W + plot_w}" y2="{plot_bottom}"/>')
    out.append(f'<text class="tl-muted" x="{LABEL_W + plot_w}" y="{plot_bottom + 32}" '
               f'text-anchor="end">ms since the stream started</text></g>')

    # Input / LLM row.
    y0 = TOP
    label = "LLM answer text" if getattr(session, "llm_provider", "") else "Input text"
    out.append(f'<g class="tl-input-row" id="{p}-input">')
    out.append(f'<rect class="tl-row" x="0" y="{y0}" width="{WIDTH}" height="{ROW_H}"/>')
    out.append(f'<text x="4" y="{y0 + 15}">{escape(label)}</text>')
    if parsed.text_first is not None:
        out.append(rect("tl-input", parsed.text_first, parsed.text_done, y0 + 5, "input-span"))
    elif parsed.text_done is not None:
        out.append(rect("tl-input", parsed.text_done, parsed.text_done, y0 + 5, "input-span"))
    out.append("</g>")

    # Parallel synthesis row: where two or more segments were synthesized at once.
    y1 = TOP + ROW_H
    max_parallel = max((count for _, _, count in parallel), default=min(len(spans), 1))
    overlap_ms = sum(end - start for start, end, _ in parallel)
    if parallel:
        summary = (f"Parallel synthesis: two or more segments synthesized at once for "
                   f"{_fmt(overlap_ms)} in total, at most {max_parallel} at once")
    else:
        summary = "Parallel synthesis: no two segments were synthesized at once"
    out.append(f'<g class="tl-parallel-row" id="{p}-parallel" '
               f'data-max-parallel="{max_parallel}" data-overlap-ms="{overlap_ms:.3f}">'
               f"<title>{escape(summary)}</title>")
    out.append(f'<text x="4" y="{y1 + 15}">Parallel synthesis</text>')
    for i, (start, end, count) in enumerate(parallel):
        level = min(count, 4)
        tip = f"{count} segments synthesized at once: {_fmt(start)} → {_fmt(end)}"
        out.append(f'<rect id="{p}-par-{i}" class="tl-parallel tl-par-{level}" '
                   f'x="{x(start):.1f}" y="{y1 + 5:.1f}" '
                   f'width="{max(x(end) - x(start), 1.0):.1f}" height="{BAR_H}" '
                   f'data-start-ms="{start:.3f}" data-end-ms="{end:.3f}" '
                   f'data-count="{count}"><title>{escape(tip)}</title></rect>')
    if not parallel:
        out.append(f'<text class="tl-muted" x="{LABEL_W + 4}" y="{y1 + 15}">'
                   f"none: one segment at a time</text>")
    out.append("</g>")

    # Segment rows.
    for n, seg in enumerate(rows, start=2):
        y = TOP + n * ROW_H
        mid = y + ROW_H / 2
        text = seg.text or "(no text recorded)"
        tip = (f"#{seg.index}: {_short(text, 300)}\ncut {_fmt(seg.cut)}, request "
               f"{_fmt(seg.request)}, first byte {_fmt(seg.first_byte)}, end {_fmt(seg.end)}")
        out.append(f'<g class="tl-segment" id="{p}-seg-{seg.index}" data-index="{seg.index}">'
                   f"<title>{escape(tip)}</title>")
        if n % 2 == 1:
            out.append(f'<rect class="tl-row" x="0" y="{y}" width="{WIDTH}" height="{ROW_H}"/>')
        out.append(f'<text x="4" y="{y + 15}">#{seg.index} '
                   f"{escape(_short(seg.text, LABEL_CHARS))}</text>")
        if seg.cut is not None and seg.request is not None and seg.request > seg.cut:
            out.append(f'<line class="tl-queue" x1="{x(seg.cut):.1f}" y1="{mid:.1f}" '
                       f'x2="{x(seg.request):.1f}" y2="{mid:.1f}"/>')
        if seg.request is not None:
            out.append(rect("tl-wait", seg.request, seg.first_byte
                            if seg.first_byte is not None else seg.end, y + 5,
                            f"seg-{seg.index}-wait"))
        if seg.first_byte is not None:
            out.append(rect("tl-synth", seg.first_byte, seg.end, y + 5,
                            f"seg-{seg.index}-synth"))
        if seg.audio:
            xs = sorted({round(x(t), 1) for t in seg.audio})
            path = "".join(f"M{ax} {y + 5 + BAR_H}v{ROW_H - BAR_H - 5}" for ax in xs)
            out.append(f'<path class="tl-audio" d="{path}" data-frames="{len(seg.audio)}"/>')
        if seg.cut is not None:
            out.append(f'<line class="tl-cut" x1="{x(seg.cut):.1f}" y1="{y + 3}" '
                       f'x2="{x(seg.cut):.1f}" y2="{y + ROW_H - 3}" '
                       f'data-ms="{seg.cut:.3f}"/>')
        for t in seg.retries:
            xr = x(t)
            out.append(f'<path class="tl-retry" data-ms="{t:.3f}" '
                       f'd="M{xr - 4:.1f} {y + 1}h8l-4 5zM{xr:.1f} {y + 6}v{ROW_H - 8}">'
                       f"<title>{escape(f'asked again from a fallback TTS at {_fmt(t)}')}"
                       f"</title></path>")
        out.append("</g>")
    if hidden:
        y = TOP + (len(rows) + 2) * ROW_H
        out.append(f'<text class="tl-muted" x="4" y="{y + 15}">… {hidden} more segments '
                   f"not drawn</text>")

    # TTFA marker, over everything.
    if ttfa is not None:
        xt = x(ttfa)
        anchor = "end" if xt > WIDTH - 120 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<g id="{p}-ttfa" class="tl-ttfa-group" data-ms="{ttfa:.3f}">'
                   f'<line class="tl-ttfa" x1="{xt:.1f}" y1="{TOP - 10}" x2="{xt:.1f}" '
                   f'y2="{plot_bottom}"/><text class="tl-ttfa-label" x="{xt + dx:.1f}" '
                   f'y="{TOP - 12}" text-anchor="{anchor}">TTFA {_fmt(ttfa)}</text></g>')

    out.append(legend)
    out.append("</svg>")
    return "".join(out)


def _legend(top: float, retries: bool = False) -> tuple[str, float]:
    """Swatches explaining the marks, wrapped to the picture's width; and their height."""
    items = [
        ('<rect class="tl-input" x="{x}" y="{y}" width="14" height="10"/>', "input text"),
        ('<line class="tl-cut" x1="{cx}" y1="{y}" x2="{cx}" y2="{y2}"/>', "segment cut"),
        ('<line class="tl-queue" x1="{x}" y1="{my}" x2="{x2}" y2="{my}"/>', "queued"),
        ('<rect class="tl-wait" x="{x}" y="{y}" width="14" height="10"/>',
         "TTS request → first byte"),
        ('<rect class="tl-synth" x="{x}" y="{y}" width="14" height="10"/>', "synthesis"),
        ('<path class="tl-audio" d="M{x} {y}v10M{x4} {y}v10M{x8} {y}v10"/>', "audio sent"),
        ('<line class="tl-ttfa" x1="{cx}" y1="{y}" x2="{cx}" y2="{y2}"/>', "TTFA"),
        ('<rect class="tl-par-2" x="{x}" y="{y}" width="5" height="10"/>'
         '<rect class="tl-par-3" x="{x5}" y="{y}" width="5" height="10"/>'
         '<rect class="tl-par-4" x="{x10}" y="{y}" width="5" height="10"/>',
         "2 / 3 / 4+ segments synthesized at once"),
    ]
    if retries:
        items.append(('<path class="tl-retry" d="M{x3} {y}h8l-4 5zM{cx} {y5}v5"/>',
                      "asked again (fallback TTS)"))
    out = ['<g class="tl-legend">']
    cursor, y = 4.0, top
    for shape, label in items:
        width = 18 + 6.2 * len(label)
        if cursor > 4.0 and cursor + width > WIDTH:
            cursor, y = 4.0, y + LEGEND_LINE_H
        out.append(shape.format(x=cursor, y=y, y2=y + 10, my=y + 5, x2=cursor + 14,
                                cx=cursor + 7, x4=cursor + 4, x8=cursor + 8,
                                x5=cursor + 5, x10=cursor + 10, x3=cursor + 3, y5=y + 5))
        out.append(f'<text x="{cursor + 18}" y="{y + 9}">{escape(label)}</text>')
        cursor += width + 16
    out.append("</g>")
    return "".join(out), y - top + LEGEND_LINE_H + 8


def _empty_svg(p: str, status: str, error: str) -> str:
    """A small picture saying why there is nothing to draw."""
    if status == "running":
        message = "No timeline yet: the stream is still running (it is stored at its end)."
    elif status == "failed":
        message = "No timeline: the stream failed before any text arrived."
    else:
        message = "No timeline recorded for this session."
    lines = [message] + ([f"Error: {_short(error, 140)}"] if error else [])
    height = 16 + 18 * len(lines)
    texts = "".join(
        f'<text class="{"tl-error" if i else "tl-muted"}" x="4" y="{18 + 18 * i}">'
        f"{escape(line)}</text>" for i, line in enumerate(lines)
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="tl-svg tl-empty" '
            f'id="{p}-timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label="{escape(message)}" '
            f'style="max-width:100%;height:auto"><style>{STYLE}</style>{texts}</svg>')
