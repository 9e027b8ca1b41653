"""The session admin: a fast changelist, a read-only detail page with the segments, the
timeline picture and the audio, the staff-only audio view and the report page's URL."""
from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Func, Q, QuerySet
from django.db.models.functions import Substr
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from streaming.admin.base import (
    RecordAdmin,
    RecordInline,
    ms,
    ms_field,
    overlap_cell,
    overlap_sentence,
)
from streaming.admin.filters import (
    LatencyBucketFilter,
    LLMProviderFilter,
    ReplayFilter,
    TTSProviderFilter,
)
from streaming.admin.paginator import EstimatedCountPaginator
from streaming.admin.reports import latency_report_view
from streaming.fileserve import serve_file
from streaming.models import SegmentRecord, StreamSession
from streaming.services import delete_audio_files, delete_sessions
from streaming.timeline_svg import timeline_svg

# Large per-row columns the changelist never shows.
HEAVY_FIELDS = ("timeline", "input_text", "output_text", "client_metrics", "error",
                "fallbacks")
PREVIEW_CHARS = 48
# The detail page's display methods of float metrics (``ms_field``), to 0.1 ms.
LATENCY_FIELDS = ("llm_queue", "llm_ttft", "first_segment", "tts_ttfb", "ttfa_detail",
                  "overhead_detail", "text_done", "overlap_detail", "total_detail",
                  "audio_length", "playback_start", "played")
MAX_TIMELINE_LINES = 2000


class SegmentInline(RecordInline):
    """A session's segments with their TTS timings (ms from the stream's start).

    The columns fit a 1,280 px window: the first byte's time is the request's plus the
    wait, and the bytes are the audio length at the session's sample rate.
    """

    model = SegmentRecord
    fields = ("index", "timed_text", "cut", "request", "tts_wait", "synthesis", "end",
              "audio_offset", "audio_length")
    readonly_fields = fields
    verbose_name_plural = "segments (times in ms from the stream's start)"

    cut = ms_field("cut_ms", "cut")
    request = ms_field("request_ms", "TTS request")
    end = ms_field("end_ms", "synthesis end")
    audio_offset = ms_field("audio_offset_ms", "audio from")
    audio_length = ms_field("audio_ms", "audio length")

    @admin.display(description="text (a word's tooltip: when it is said)")
    def timed_text(self, segment: SegmentRecord) -> str | SafeString:
        """The text; with word timings (what captions follow and "heard" counts), each word
        says when it is said, in ms from the start of the segment's audio."""
        if not segment.words:
            return segment.text
        return format_html_join(" ", '<span class="word" title="{}–{} ms">{}</span>', (
            (ms(start), ms(end), text) for text, start, end in segment.words))

    @admin.display(description="TTS wait")
    def tts_wait(self, segment: SegmentRecord) -> str:
        """Request to first byte."""
        return _ms_diff(segment.first_byte_ms, segment.request_ms)

    @admin.display(description="synthesis")
    def synthesis(self, segment: SegmentRecord) -> str:
        """First byte to end."""
        return _ms_diff(segment.end_ms, segment.first_byte_ms)


def _ms_diff(a: float | None, b: float | None) -> str:
    """``a - b`` in ms to 0.1 ms ("-" when either is unknown)."""
    return ms(None if a is None or b is None else a - b, decimals=1)


class StreamSessionAdmin(RecordAdmin):
    """Sessions with their providers and latency metrics; read-only detail pages.

    An app that keeps more of its streams (the voicebot's turns) extends this class and
    registers its subclass in place of it, as ``contrib.auth``'s ``UserAdmin`` is extended:
    the methods marked "hook" are the places it fills in.
    """

    # Fits a 1,280 px window beside the admin's navigation and the filters: the start time,
    # the voice and an app's detail (a turn) share other columns; overhead and total are on
    # the detail page and in the latency report.
    list_display = ("short_id", "kind_label", "status", "providers", "ttfa", "overlap",
                    "text_preview")
    list_display_links = ("short_id",)
    list_filter = ("kind", "status", LatencyBucketFilter, TTSProviderFilter, LLMProviderFilter,
                   ReplayFilter, ("created_at", admin.DateFieldListFilter))
    list_select_related = False  # no column renders a related object
    search_fields = ("input_text", "output_text")
    search_help_text = "Words of the input or output text; or a session UUID (exact)."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice: too slow on big tables
    paginator = EstimatedCountPaginator
    list_per_page = 100
    inlines = [SegmentInline]
    readonly_fields = (
        *(f.name for f in StreamSession._meta.fields),
        "audio_player", "timeline_picture", "timeline_events", "replay_links", *LATENCY_FIELDS,
    )
    fieldsets = (
        (None, {"fields": (("id", "kind", "status"), ("created_at", "ended_at", "end_reason"),
                           "error")}),
        ("Providers", {"fields": (("tts_provider", "voice", "sample_rate"),
                                  "llm_provider", "fallbacks")}),
        ("Audio", {"fields": ("audio_player",)}),
        ("Timeline", {"fields": ("timeline_picture",)}),
        ("Text", {"fields": ("input_text", "output_text")}),
        ("Latency (ms from the stream's start)", {"fields": (
            ("llm_queue", "llm_ttft", "first_segment"),
            ("tts_ttfb", "ttfa_detail", "overhead_detail"),
            ("text_done", "overlap_detail", "total_detail"),
            ("audio_length", "segment_count", "bytes_sent"),
        )}),
        ("Browser", {"fields": (("playback_start", "underruns", "played"),
                                "client_metrics")}),
        ("Replays", {"fields": ("replay_links",)}),
        ("Timeline events", {"classes": ("collapse",), "fields": ("timeline_events",)}),
    )

    # The metrics on the detail page, to 0.1 ms (the columns above show whole ms).
    llm_queue = ms_field("llm_queue_ms", "LLM queue")
    llm_ttft = ms_field("llm_ttft_ms", "LLM first token")
    first_segment = ms_field("first_segment_ms", "first segment cut")
    tts_ttfb = ms_field("tts_ttfb_ms", "TTS first byte")
    ttfa_detail = ms_field("ttfa_ms", "TTFA")
    overhead_detail = ms_field("overhead_ms", "overhead")
    text_done = ms_field("text_done_ms", "text done")
    total_detail = ms_field("total_ms", "total")
    audio_length = ms_field("audio_ms", "audio sent")
    playback_start = ms_field("playback_start_ms", "playback start (ms)")
    played = ms_field("played_ms", "played (ms)")

    @admin.display(description="overlap")
    def overlap_detail(self, obj: StreamSession) -> str:
        """The overlap to 0.1 ms, and what its sign means."""
        return overlap_sentence(obj.overlap_ms)

    # --- querysets -----------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """On the changelist, heavy columns are deferred and a short text preview added."""
        qs = super().get_queryset(request)
        if self.on_changelist(request):
            qs = qs.defer(*HEAVY_FIELDS).annotate(preview=self.preview_expression())
        return qs

    def preview_expression(self) -> Func:
        """Hook: the changelist's text column, computed by the database."""
        return Substr("input_text", 1, PREVIEW_CHARS + 1)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet,
                           search_term: str) -> tuple[QuerySet, bool]:
        """A UUID matches exactly (``uuid_matches``); anything else is a text search."""
        try:
            wanted = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(self.uuid_matches(wanted)), False

    def uuid_matches(self, wanted: uuid.UUID) -> Q:
        """Hook: the sessions a UUID in the search box finds."""
        return Q(pk=wanted)

    # --- deletion also removes the stored audio ------------------------------------------
    def delete_model(self, request: HttpRequest, obj: StreamSession) -> None:
        """Delete the session, then its audio file once committed."""
        name = obj.audio.name if obj.audio else ""
        super().delete_model(request, obj)
        if name:
            transaction.on_commit(lambda: delete_audio_files([name]))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Delete the sessions, then their audio files once committed."""
        _, _, names = delete_sessions(queryset)
        transaction.on_commit(lambda: delete_audio_files(names))

    # --- changelist columns --------------------------------------------------------------
    @admin.display(description="session", ordering="created_at")
    def short_id(self, obj: StreamSession) -> SafeString:
        """The first characters of the UUID (``replay_session`` takes them), and when the
        stream started, to the second."""
        return format_html('{}<br><span class="quiet">{}</span>', str(obj.pk)[:8],
                           date_format(localtime(obj.created_at), "Y-m-d H:i:s"))

    @admin.display(description="kind", ordering="kind")
    def kind_label(self, obj: StreamSession) -> str | SafeString:
        """Hook: the kind (an app adds what the session is part of)."""
        return obj.get_kind_display()

    @admin.display(description="providers (TTS · voice; LLM)", ordering="tts_provider")
    def providers(self, obj: StreamSession) -> str | SafeString:
        """Hook: the TTS and its voice; the LLM writing the text on a second line."""
        tts = f"{obj.tts_provider} · {obj.voice}" if obj.voice else obj.tts_provider
        if not obj.llm_provider:
            return tts
        return format_html("{}<br>{}", tts, obj.llm_provider)

    ttfa = ms_field("ttfa_ms", "TTFA (ms)", decimals=0)

    @admin.display(description="overlap (ms)", ordering="overlap_ms")
    def overlap(self, obj: StreamSession) -> str | SafeString:
        """How long audio had played when the text was complete (negative: it started
        after)."""
        return overlap_cell(obj.overlap_ms)

    @admin.display(description="text")
    def text_preview(self, obj: StreamSession) -> str:
        """The text preview (``preview_expression``), shortened."""
        text = " ".join((getattr(obj, "preview", None) or "").split())
        return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"

    # --- detail fields -------------------------------------------------------------------
    def _segments(self, obj: StreamSession) -> list[SegmentRecord]:
        """The session's segment records, fetched once per page."""
        cached = getattr(obj, "_admin_segments", None)
        if cached is None:
            cached = list(obj.segment_records.order_by("index"))
            obj._admin_segments = cached
        return cached

    @admin.display(description="timeline")
    def timeline_picture(self, obj: StreamSession) -> SafeString:
        """The SVG picture of the parallel streams (its text is escaped when built)."""
        return mark_safe(timeline_svg(obj, self._segments(obj)))

    @admin.display(description="audio")
    def audio_player(self, obj: StreamSession) -> str | SafeString:
        """An HTML5 player for the stored WAV, served by the staff-only audio view."""
        if not obj.audio:
            return ("No audio stored for this session (storing audio is off, or no audio "
                    "was sent).")
        url = reverse("admin:streaming_streamsession_audio", args=[obj.pk],
                      current_app=self.admin_site.name)
        return format_html(
            '<audio controls preload="metadata" src="{}">Your browser cannot play WAV.</audio>'
            '<br><a href="{}?download=1">Download WAV</a> <span class="quiet">{}</span>',
            url, url, obj.audio.name,
        )

    @admin.display(description="events")
    def timeline_events(self, obj: StreamSession) -> str | SafeString:
        """The raw timeline, one event a line."""
        events = obj.timeline if isinstance(obj.timeline, list) else []
        if not events:
            return "No events recorded."
        lines = [json.dumps(e, separators=(", ", ": ")) for e in events[:MAX_TIMELINE_LINES]]
        if len(events) > MAX_TIMELINE_LINES:
            lines.append(f"… {len(events) - MAX_TIMELINE_LINES} more events")
        return format_html('<pre style="max-height:30em;overflow:auto">{}</pre>',
                           "\n".join(lines))

    @admin.display(description="replays")
    def replay_links(self, obj: StreamSession) -> str | SafeString:
        """The session this one replays, and the sessions replaying it."""
        parts: list[SafeString] = []
        if obj.replay_of_id:
            url = reverse("admin:streaming_streamsession_change", args=[obj.replay_of_id],
                          current_app=self.admin_site.name)
            parts.append(format_html('Replay of <a href="{}">{}</a>', url,
                                     str(obj.replay_of_id)[:8]))
        count = obj.replays.count()
        if count:
            url = reverse("admin:streaming_streamsession_changelist",
                          current_app=self.admin_site.name)
            parts.append(format_html('<a href="{}?{}">{} replays of this session</a>', url,
                                     urlencode({"replay_of__exact": obj.pk}), count))
        return format_html_join(" · ", "{}", ((p,) for p in parts)) if parts else "–"

    # --- extra views ---------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        """The audio and report views, before the admin's catch-all object URLs."""
        wrap = self.admin_site.admin_view
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        return [
            path("report/", wrap(self.report_view), name=f"{name}_report"),
            path("<path:object_id>/audio/", wrap(self.audio_view), name=f"{name}_audio"),
            *super().get_urls(),
        ]

    def audio_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Stream a session's WAV to staff who may view it (single byte ranges honoured)."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such session.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if not obj.audio:
            raise Http404("This session has no stored audio.")
        return serve_file(request, obj.audio, filename=f"session-{obj.pk}.wav",
                          content_type="audio/wav", attachment="download" in request.GET)

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """Latency percentiles per provider, voice and day over a period, with a chart."""
        return latency_report_view(self, request)
