"""Latency reports: percentiles of the session metrics per provider, voice or day.

Percentiles use the **nearest-rank** method of ``streaming.stats.percentile``: for ``n``
sorted values, the p-th percentile is the value at 1-based rank ``ceil(p * n / 100)``
(computed in integers, so there is no float rounding). It is always a measured value, and
the same on every database because it is computed in Python from the stored floats: for
the values 1..100, p50 = 50, p90 = 90 and p99 = 99; for a single value, every percentile
is that value.

Replays (sessions stored by ``replay_session(s)``) are left out unless asked for: they are
the engine re-run on old input, not what users heard.

The rows are streamed from the database with ``values_list(...).iterator()`` in one pass,
whatever the number of groupings asked for.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import escape

from streaming.models import REPLAY_END_REASON
from streaming.stats import NEAREST_RANK, format_ms, percentile
from streaming.timeline_svg import nice_step

# The reported metrics, in order: a session's fields, and what apps add (``add_metric``).
METRIC_LABELS = {
    "ttfa_ms": "TTFA", "overhead_ms": "overhead", "tts_ttfb_ms": "TTS TTFB",
    "llm_queue_ms": "LLM queue", "llm_ttft_ms": "LLM TTFT", "first_segment_ms": "first segment",
}


def add_metric(lookup: str, label: str) -> None:
    """Report an app's metric too: a lookup from the session to a number, e.g. across
    to the app's own row (``"voicebot_turn__barge_in_stop_ms"``). Call it in ``ready()``."""
    METRIC_LABELS.setdefault(lookup, label)


def metrics() -> tuple[str, ...]:
    """The reported metrics' lookups, in order."""
    return tuple(METRIC_LABELS)
PERCENTILES: tuple[int, ...] = (50, 90, 99)
GROUP_BYS: tuple[str, ...] = ("provider", "voice", "day")
METHOD = NEAREST_RANK
DEFAULT_DAYS = 7
CHUNK_SIZE = 2000
# Replays, also those whose original is gone (their replay_of was set to null).
REPLAYS = Q(replay_of__isnull=False) | Q(end_reason=REPLAY_END_REASON)


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """``count`` and ``p50``/``p90``/``p99`` of some values."""
    ordered = sorted(values)
    summary: dict[str, float | int | None] = {"count": len(ordered)}
    for p in PERCENTILES:
        summary[f"p{p}"] = percentile(ordered, p, method=METHOD)
    return summary


def default_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 7 days, today included."""
    today = today or timezone.localdate()
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


def day_start(day: dt.date) -> dt.datetime:
    """Midnight starting ``day`` in the current time zone (aware when USE_TZ is on)."""
    moment = dt.datetime.combine(day, dt.time.min)
    return timezone.make_aware(moment) if settings.USE_TZ else moment


def in_period(queryset: QuerySet, since: dt.date | None, until: dt.date | None,
              kind: str | None = None, *, include_replays: bool = False) -> QuerySet:
    """Sessions created from ``since`` to ``until`` (whole days, both included), of
    ``kind`` if given, without replays unless ``include_replays``."""
    if since is not None:
        queryset = queryset.filter(created_at__gte=day_start(since))
    if until is not None and until < dt.date.max:  # the last date has no next day
        queryset = queryset.filter(created_at__lt=day_start(until + dt.timedelta(days=1)))
    if kind:
        queryset = queryset.filter(kind=kind)
    if not include_replays:
        queryset = queryset.exclude(REPLAYS)
    return queryset


def _key(group_by: str, provider: str, voice: str, day: dt.date | None) -> tuple:
    if group_by == "provider":
        return (provider,)
    if group_by == "voice":
        return (provider, voice)
    return (day,)


def _row(group_by: str, key: tuple, sessions: int, values: dict[str, list[float]]) -> dict:
    if group_by == "provider":
        row: dict = {"group": key[0] or "(none)", "provider": key[0]}
    elif group_by == "voice":
        row = {"group": f"{key[0]} · {key[1] or '(default voice)'}", "provider": key[0],
               "voice": key[1]}
    else:
        row = {"group": key[0].isoformat() if key[0] else "(no date)", "day": key[0]}
    row["sessions"] = sessions
    for metric in metrics():
        row[metric] = summarize(values[metric])
    return row


def latency_reports(sessions_queryset: QuerySet,
                    group_bys: Iterable[str] = GROUP_BYS) -> dict[str, list[dict]]:
    """Several groupings of :func:`latency_report` computed in a single pass."""
    group_bys = tuple(group_bys)
    for group_by in group_bys:
        if group_by not in GROUP_BYS:
            raise ValueError(f"group_by must be one of {', '.join(GROUP_BYS)}; got {group_by!r}")
    qs = sessions_queryset.order_by()
    with_day = "day" in group_bys
    if with_day:
        qs = qs.annotate(report_day=TruncDate("created_at"))
    reported = metrics()
    columns = ["tts_provider", "voice", *reported, *(["report_day"] if with_day else [])]
    counts: dict[str, dict[tuple, int]] = {g: defaultdict(int) for g in group_bys}
    values: dict[str, dict[tuple, dict[str, list[float]]]] = {
        g: defaultdict(lambda: {m: [] for m in reported}) for g in group_bys
    }
    n = len(reported)
    for row in qs.values_list(*columns).iterator(CHUNK_SIZE):
        provider, voice, values_of = row[0], row[1], row[2 : 2 + n]
        day = row[2 + n] if with_day else None
        for group_by in group_bys:
            key = _key(group_by, provider, voice, day)
            counts[group_by][key] += 1
            bucket = values[group_by][key]
            for metric, value in zip(reported, values_of, strict=True):
                if value is not None:
                    bucket[metric].append(value)
    return {
        g: [_row(g, key, counts[g][key], values[g][key])
            for key in sorted(counts[g], key=_sort_key)]
        for g in group_bys
    }


def _sort_key(key: tuple) -> tuple:
    return tuple((part is None, part or "") if not isinstance(part, dt.date) else (False, part)
                 for part in key)


def latency_report(sessions_queryset: QuerySet, *, group_by: str) -> list[dict]:
    """Count and nearest-rank p50/p90/p99 of each metric per group.

    ``group_by`` is ``provider`` (``tts_provider``), ``voice`` (provider and voice) or
    ``day`` (``TruncDate(created_at)`` in the current time zone). Each row has ``group``
    (a label), the grouping's fields, ``sessions`` and, per metric of :func:`metrics`, a
    dict ``{"count", "p50", "p90", "p99"}`` (``None`` when no session had the metric).
    """
    return latency_reports(sessions_queryset, (group_by,))[group_by]


def text_table(rows: list[dict]) -> str:
    """The report as a fixed-width text table: metric names over their n/p50/p90/p99."""
    sub = ["n", *(f"p{p}" for p in PERCENTILES)]
    reported = metrics()
    header = ["group", "sessions", *(sub * len(reported))]
    lines = [header]
    for row in rows:
        line = [str(row["group"]), str(row["sessions"])]
        for metric in reported:
            summary = row[metric]
            line += [str(summary["count"])] + [format_ms(summary[f"p{p}"]) for p in PERCENTILES]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    gap = "  "
    # Widen each metric's columns so its name fits over them.
    for m, metric in enumerate(reported):
        cols = range(2 + m * len(sub), 2 + (m + 1) * len(sub))
        missing = len(METRIC_LABELS[metric]) - (sum(widths[c] for c in cols)
                                                 + len(gap) * (len(sub) - 1))
        for k in range(max(0, missing)):
            widths[cols[k % len(sub)]] += 1
    groups = [" " * (widths[0] + len(gap) + widths[1])]
    for m, metric in enumerate(reported):
        cols = range(2 + m * len(sub), 2 + (m + 1) * len(sub))
        span = sum(widths[c] for c in cols) + len(gap) * (len(sub) - 1)
        groups.append(METRIC_LABELS[metric].center(span))
    out = [gap.join(groups).rstrip()]
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:],
                                                                         strict=True)]
        out.append(gap.join(cells).rstrip())
    out.insert(2, gap.join("-" * w for w in widths))
    return "\n".join(out)


def ttfa_chart_svg(day_rows: list[dict], since: dt.date, until: dt.date, *,
                   width: int = 760, height: int = 240) -> str:
    """Bars of p90 (light) and p50 (dark) TTFA per day over the period, as inline SVG."""
    days = max(1, (until - since).days + 1)
    by_day = {row["day"]: row["ttfa_ms"] for row in day_rows if row.get("day")}
    left, right, top, bottom = 56, 12, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((s["p90"] or 0.0 for s in by_day.values()), default=0.0) or 1.0
    step = nice_step(peak, 4)
    y_max = max(step, math.ceil(peak / step) * step)
    slot = plot_w / days
    bar = max(2.0, min(40.0, slot * 0.7))

    def y(v: float) -> float:
        return top + plot_h - v / y_max * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart" '
           f'id="ttfa-chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="TTFA p50 and p90 per day" style="max-width:100%;height:auto">'
           "<style>.report-chart text{font:11px system-ui,sans-serif;"
           "fill:var(--body-fg,#222)}.report-chart .grid{stroke:var(--hairline-color,#ddd)}"
           ".report-chart .p90{fill:#9ec5e8}.report-chart .p50{fill:#2f6fa7}</style>"]
    ticks = round(y_max / step)
    for i in range(ticks + 1):
        v = i * step
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" '
                   f'y2="{y(v):.1f}"/><text x="{left - 6}" y="{y(v) + 4:.1f}" '
                   f'text-anchor="end">{format_ms(v, decimals=0, grouping=True)}</text>')
    out.append(f'<text x="4" y="{top - 4}">ms</text>')
    label_every = max(1, math.ceil(days / 14))
    for i in range(days):
        day = since + dt.timedelta(days=i)
        cx = left + slot * (i + 0.5)
        summary = by_day.get(day)
        if summary and summary["count"]:
            p50, p90 = summary["p50"] or 0.0, summary["p90"] or 0.0
            tip = escape(f"{day.isoformat()}: p50 {format_ms(p50)} ms, "
                         f"p90 {format_ms(p90)} ms, n={summary['count']}")
            out.append(f'<g class="day" data-day="{day.isoformat()}"><title>{tip}</title>'
                       f'<rect class="p90" x="{cx - bar / 2:.1f}" y="{y(p90):.1f}" '
                       f'width="{bar:.1f}" height="{y(0) - y(p90):.1f}"/>'
                       f'<rect class="p50" x="{cx - bar / 4:.1f}" y="{y(p50):.1f}" '
                       f'width="{bar / 2:.1f}" height="{y(0) - y(p50):.1f}"/></g>')
        if i % label_every == 0:
            out.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                       f"{day.strftime('%m-%d')}</text>")
    legend_y = height - 8
    out.append(f'<rect class="p90" x="{left}" y="{legend_y - 9}" width="12" height="10"/>'
               f'<text x="{left + 16}" y="{legend_y}">p90</text>'
               f'<rect class="p50" x="{left + 52}" y="{legend_y - 9}" width="12" height="10"/>'
               f'<text x="{left + 68}" y="{legend_y}">p50 TTFA per day</text></svg>')
    return "".join(out)

