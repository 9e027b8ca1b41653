"""Admin for conversations: their turns (sessions) and the history the LLM saw."""
from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from streaming.admin.base import RecordAdmin, RecordInline, ms, overlap_cell
from streaming.models import StreamSession
from voicebot.models import Conversation

# Session columns a turn row never shows.
TURN_DEFERRED = ("timeline", "input_text", "output_text", "client_metrics", "fallbacks",
                 "error")


class TurnInline(RecordInline):
    """The conversation's turns (its sessions), in order, linked to their session pages."""

    model = StreamSession
    fk_name = "conversation"
    fields = ("turn", "status", "user_text", "heard_text", "ttfa", "overlap", "created_at")
    readonly_fields = fields
    ordering = ("turn", "created_at")
    show_change_link = True
    verbose_name = "turn"
    verbose_name_plural = "turns"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Turns without their heavy columns."""
        return super().get_queryset(request).defer(*TURN_DEFERRED)

    @admin.display(description="TTFA (ms)")
    def ttfa(self, session: StreamSession) -> str:
        """Time to first audio."""
        return ms(session.ttfa_ms)

    @admin.display(description="overlap (ms)")
    def overlap(self, session: StreamSession) -> str | SafeString:
        """How long audio had played when the answer was complete (negative: it started
        after)."""
        return overlap_cell(session.overlap_ms)


@admin.register(Conversation)
class ConversationAdmin(RecordAdmin):
    """Conversations with their turns and the history the LLM saw (read-only)."""

    list_display = ("short_id", "llm_provider", "turns", "created_at", "updated_at")
    list_display_links = ("short_id",)
    list_filter = ("llm_provider", ("created_at", admin.DateFieldListFilter))
    search_fields = ("id",)
    search_help_text = "A conversation UUID (exact)."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = ("id", "llm_provider", "system_prompt", "transcript", "history", "turns",
                       "created_at", "updated_at", "sessions_link")
    fieldsets = (
        (None, {"fields": (("id", "llm_provider", "turns"), ("created_at", "updated_at"),
                           "sessions_link", "system_prompt")}),
        ("History the LLM sees next", {"fields": ("transcript",)}),
        ("Raw history", {"classes": ("collapse",), "fields": ("history",)}),
    )
    inlines = [TurnInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """The history (a long JSON list) is not loaded for the changelist."""
        qs = super().get_queryset(request)
        if self.on_changelist(request):
            qs = qs.defer("history", "system_prompt")
        return qs

    def get_search_results(self, request: HttpRequest, queryset: QuerySet,
                           search_term: str) -> tuple[QuerySet, bool]:
        """A UUID matches exactly (an index lookup); anything else finds nothing."""
        if not search_term.strip():
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(search_term.strip())), False
        except ValueError:
            return queryset.none(), False

    @admin.display(description="conversation", ordering="id")
    def short_id(self, obj: Conversation) -> str:
        """The first characters of the UUID."""
        return str(obj.pk)[:8]

    @admin.display(description="sessions")
    def sessions_link(self, obj: Conversation) -> SafeString:
        """The conversation's sessions in the session changelist."""
        url = reverse("admin:streaming_streamsession_changelist",
                      current_app=self.admin_site.name)
        return format_html('<a href="{}?conversation__exact={}">its sessions, with their '
                           "metrics</a>", url, obj.pk)

    @admin.display(description="history")
    def transcript(self, obj: Conversation) -> str | SafeString:
        """The history as a transcript (assistant turns as heard, after barge-in)."""
        history = obj.history if isinstance(obj.history, list) else []
        if not history:
            return "Empty."
        items = format_html_join(
            "", "<li><strong>{}</strong>: {}</li>",
            ((str(m.get("role", "?")), str(m.get("content", "")))
             for m in history if isinstance(m, dict)),
        )
        return format_html('<ol class="transcript">{}</ol>', items)
