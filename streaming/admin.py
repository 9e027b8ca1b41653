"""Admin for stream sessions and their segments."""
from django.contrib import admin

from streaming.models import SegmentRecord, StreamSession


class SegmentInline(admin.TabularInline):
    """A session's segments with their TTS timings."""

    model = SegmentRecord
    extra = 0
    can_delete = False
    fields = ("index", "text", "cut_ms", "request_ms", "first_byte_ms", "end_ms",
              "audio_ms", "bytes")
    readonly_fields = fields


@admin.register(StreamSession)
class StreamSessionAdmin(admin.ModelAdmin):
    """Sessions with their latency metrics."""

    list_display = ("id", "kind", "status", "tts_provider", "voice", "ttfa_ms", "overhead_ms",
                    "overlap_ms", "total_ms", "created_at")
    list_filter = ("kind", "status", "tts_provider")
    search_fields = ("id", "input_text")
    date_hierarchy = "created_at"
    inlines = [SegmentInline]
    readonly_fields = [f.name for f in StreamSession._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        """Sessions are recorded by streams, not typed in."""
        return False
