"""Admin for conversations (their turns and the history the LLM saw), and the session
admin extended with what a voicebot session is a turn of (registered in place of
``streaming``'s, the way ``contrib.auth``'s ``UserAdmin`` is extended)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Func, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf, Substr
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from streaming.admin import StreamSessionAdmin
from streaming.admin.base import RecordAdmin, RecordInline, ms, overlap_cell
from streaming.admin.filters import ProviderFilter
from streaming.admin.sessions import PREVIEW_CHARS
from streaming.models import StreamSession
from voicebot.models import Conversation, Turn

MAX_TURNS_SHOWN = 200


def turn_of(session: StreamSession) -> Turn | None:
    """The session's turn, when it is one."""
    return getattr(session, "voicebot_turn", None)


def session_url(model_admin: admin.ModelAdmin, name: str, *args: object) -> str:
    """A session admin URL (``change``, ``changelist``) on ``model_admin``'s site."""
    return reverse(f"admin:streaming_streamsession_{name}", args=args or None,
                   current_app=model_admin.admin_site.name)


def turn_text(field: str, description: str, *, empty: str = "–"
              ) -> Callable[[admin.ModelAdmin, StreamSession], str]:
    """A display method showing a text ``field`` of the session's turn."""
    @admin.display(description=description)
    def show(model_admin: admin.ModelAdmin, session: StreamSession) -> str:
        turn = turn_of(session)
        return (getattr(turn, field) if turn else "") or empty
    return show


def turn_ms(field: str, description: str) -> Callable[[admin.ModelAdmin, StreamSession], str]:
    """A display method showing a milliseconds ``field`` of the session's turn."""
    @admin.display(description=description)
    def show(model_admin: admin.ModelAdmin, session: StreamSession) -> str:
        turn = turn_of(session)
        return ms(getattr(turn, field) if turn else None, decimals=1)
    return show


class STTProviderFilter(ProviderFilter):
    """By the STT provider of a spoken turn ("(none)": typed turns and TTS sessions)."""

    title = "STT provider"
    parameter_name = "stt_provider"
    lookup = "voicebot_turn__stt_provider"
    role = "stt"


class ConversationFilter(admin.SimpleListFilter):
    """The turns of one conversation (the conversation page links here); shown only while
    it filters."""

    title = "conversation"
    parameter_name = "conversation"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        """Only the conversation being filtered on."""
        value = self.value()
        return [(value, value[:8])] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The conversation's turns (none for a value that is not a UUID)."""
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(voicebot_turn__conversation_id=uuid.UUID(self.value()))
        except ValueError:
            return queryset.none()


class VoicebotSessionAdmin(StreamSessionAdmin):
    """Sessions; a voicebot turn's also show its conversation, the user's words, the
    answer as heard and the transcription."""

    list_filter = (*StreamSessionAdmin.list_filter, STTProviderFilter, ConversationFilter)
    list_select_related = ("voicebot_turn",)  # the turn link and STT column
    search_fields = (*StreamSessionAdmin.search_fields, "voicebot_turn__user_text")
    search_help_text = ("Words of the input, user or output text; or a session UUID (exact; "
                        "a conversation UUID lists its turns).")
    readonly_fields = (*StreamSessionAdmin.readonly_fields, "conversation_link",
                       "user_text", "heard_text", "stt_provider", "stt", "speech_end_to_audio",
                       "barge_in_stop", "false_interruptions", "conversation_turns")
    turn_fieldset = ("Conversation", {"fields": (
        "conversation_link", ("stt_provider", "stt"), "user_text", "heard_text",
        ("speech_end_to_audio", "barge_in_stop", "false_interruptions"),
        "conversation_turns")})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """The changelist joins each session's turn without its texts."""
        qs = super().get_queryset(request)
        if self.on_changelist(request):
            qs = qs.defer("voicebot_turn__user_text", "voicebot_turn__heard_text")
        return qs

    def preview_expression(self) -> Func:
        """The user's words, else the input text."""
        return Coalesce(
            NullIf(Substr("voicebot_turn__user_text", 1, PREVIEW_CHARS + 1), Value("")),
            Substr("input_text", 1, PREVIEW_CHARS + 1))

    def uuid_matches(self, wanted: uuid.UUID) -> Q:
        """A session, or every turn of a conversation."""
        return super().uuid_matches(wanted) | Q(voicebot_turn__conversation_id=wanted)

    def get_fieldsets(self, request: HttpRequest, obj: StreamSession | None = None) -> list:
        """A turn's session shows its conversation after the providers."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and turn_of(obj) is not None:
            fieldsets.insert(2, self.turn_fieldset)
        return fieldsets

    # --- changelist columns --------------------------------------------------------------
    @admin.display(description="kind", ordering="kind")
    def kind_label(self, obj: StreamSession) -> str | SafeString:
        """The kind; a turn links to its conversation."""
        turn = turn_of(obj)
        if turn is None or not turn.conversation_id:
            return super().kind_label(obj)
        url = reverse("admin:voicebot_conversation_change", args=[turn.conversation_id],
                      current_app=self.admin_site.name)
        return format_html('{} <a href="{}">turn&nbsp;{}</a>', obj.get_kind_display(), url,
                           turn.number or "?")

    @admin.display(description="providers (TTS · voice; LLM / STT)", ordering="tts_provider")
    def providers(self, obj: StreamSession) -> str | SafeString:
        """The TTS and its voice; a turn's LLM and STT on a second line."""
        turn = turn_of(obj)
        if turn is None:
            return super().providers(obj)
        tts = f"{obj.tts_provider} · {obj.voice}" if obj.voice else obj.tts_provider
        return format_html("{}<br>{} / {}", tts, obj.llm_provider or "–",
                           turn.stt_provider or "–")

    # --- detail fields -------------------------------------------------------------------
    @admin.display(description="conversation")
    def conversation_link(self, obj: StreamSession) -> str | SafeString:
        """The conversation this session is a turn of."""
        turn = turn_of(obj)
        if turn is None or turn.conversation is None:
            return "Not part of a saved conversation."
        conversation = turn.conversation
        url = reverse("admin:voicebot_conversation_change", args=[conversation.pk],
                      current_app=self.admin_site.name)
        query = urlencode({ConversationFilter.parameter_name: conversation.pk})
        return format_html(
            '<a href="{}">Conversation {}</a>: turn {} of {} (LLM {}) · '
            '<a href="{}?{}">its sessions</a>',
            url, str(conversation.pk)[:8], turn.number or "?", conversation.turns,
            conversation.llm_provider, session_url(self, "changelist"), query,
        )

    user_text = turn_text("user_text", "user text")
    heard_text = turn_text("heard_text", "answer heard")
    stt_provider = turn_text("stt_provider", "STT provider", empty="– (typed)")

    stt = turn_ms("stt_ms", "STT (ms)")
    speech_end_to_audio = turn_ms("speech_end_to_audio_ms", "speech end → audio (ms)")
    barge_in_stop = turn_ms("barge_in_stop_ms", "barge-in stop (ms)")

    @admin.display(description="false interruptions")
    def false_interruptions(self, obj: StreamSession) -> str:
        """Times the answer stopped for a noise or its echo, then went on."""
        turn = turn_of(obj)
        return str(turn.false_interruptions) if turn else "–"

    @admin.display(description="turns")
    def conversation_turns(self, obj: StreamSession) -> str | SafeString:
        """Every turn of the conversation, this one in bold."""
        turn = turn_of(obj)
        if turn is None or not turn.conversation_id:
            return "–"
        turns = (Turn.objects.filter(conversation_id=turn.conversation_id)
                 .select_related("session").order_by("number", "session__created_at")
                 .only("session_id", "number", "user_text", "heard_text", "session__status",
                       "session__ttfa_ms")[:MAX_TURNS_SHOWN])
        rows = format_html_join(
            "", '<tr{}><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
                '<td>{}</td></tr>',
            (
                (mark_safe(' style="font-weight:bold"') if t.session_id == obj.pk else "",
                 session_url(self, "change", t.session_id), t.number or "?",
                 t.session.status, t.user_text or "–", t.heard_text or "–",
                 ms(t.session.ttfa_ms))
                for t in turns
            ),
        )
        return format_html(
            "<table><thead><tr><th>turn</th><th>status</th><th>user</th>"
            "<th>answer heard</th><th>TTFA (ms)</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


admin.site.unregister(StreamSession)
admin.site.register(StreamSession, VoicebotSessionAdmin)


class TurnInline(RecordInline):
    """The conversation's turns, in order, linked to their session pages."""

    model = Turn
    fk_name = "conversation"
    fields = ("turn", "status", "user_text", "heard_text", "ttfa", "overlap", "started")
    readonly_fields = fields
    ordering = ("number", "session__created_at")
    verbose_name = "turn"
    verbose_name_plural = "turns"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Turns with their sessions' status and metrics, not their heavy columns."""
        return super().get_queryset(request).select_related("session").only(
            "session_id", "conversation_id", "number", "user_text", "heard_text",
            "session__status", "session__ttfa_ms", "session__overlap_ms",
            "session__created_at")

    @admin.display(description="turn")
    def turn(self, turn: Turn) -> SafeString:
        """The turn's number, linked to its session."""
        return format_html('<a href="{}">{}</a>', session_url(self, "change", turn.session_id),
                           turn.number or "?")

    @admin.display(description="status")
    def status(self, turn: Turn) -> str:
        """How its answer's stream ended."""
        return turn.session.get_status_display()

    @admin.display(description="TTFA (ms)")
    def ttfa(self, turn: Turn) -> str:
        """Time to first audio."""
        return ms(turn.session.ttfa_ms)

    @admin.display(description="overlap (ms)")
    def overlap(self, turn: Turn) -> str | SafeString:
        """How long audio had played when the answer was complete (negative: it started
        after)."""
        return overlap_cell(turn.session.overlap_ms)

    @admin.display(description="started")
    def started(self, turn: Turn) -> object:
        """When its answer's stream started."""
        return turn.session.created_at


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
        query = urlencode({ConversationFilter.parameter_name: obj.pk})
        return format_html('<a href="{}?{}">its sessions, with their metrics</a>',
                           session_url(self, "changelist"), query)

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
