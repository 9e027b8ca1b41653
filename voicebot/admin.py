"""Admin for conversations."""
from django.contrib import admin

from streaming.models import StreamSession
from voicebot.models import Conversation


class TurnInline(admin.TabularInline):
    """The conversation's turns (its sessions)."""

    model = StreamSession
    fk_name = "conversation"
    extra = 0
    can_delete = False
    fields = ("turn", "status", "user_text", "heard_text", "ttfa_ms", "overlap_ms", "created_at")
    readonly_fields = fields
    ordering = ("turn",)
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Conversations with the history the LLM saw."""

    list_display = ("id", "llm_provider", "turns", "created_at", "updated_at")
    list_filter = ("llm_provider",)
    search_fields = ("id",)
    readonly_fields = ("id", "llm_provider", "system_prompt", "history", "turns", "created_at",
                       "updated_at")
    inlines = [TurnInline]

    def has_add_permission(self, request) -> bool:
        """Conversations are recorded by the voicebot."""
        return False
