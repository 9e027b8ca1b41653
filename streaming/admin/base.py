"""What the admins of recorded things share: read-only records and inlines, milliseconds
shown alike."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from streaming.stats import format_ms


def ms(value: float | None, *, decimals: int = 0) -> str:
    """Milliseconds as the admin shows them: thousands grouped; "-" when unknown."""
    return format_ms(value, decimals=decimals, grouping=True)


def overlap_cell(value: float | None) -> str | SafeString:
    """The overlap (text done - first audio) in whole ms for a table; a negative one says
    what it means under the number."""
    if value is None or value >= 0:
        return ms(value)
    return format_html('<span title="audio started after the text was complete">{}<br>'
                       '<small class="quiet">after the text</small></span>', ms(value))


def overlap_sentence(value: float | None) -> str:
    """The overlap to 0.1 ms with what it means, either way."""
    if value is None:
        return ms(value)
    when = "before" if value >= 0 else "after"
    return (f"{ms(value, decimals=1)}: audio started {ms(abs(value), decimals=1)} ms {when} "
            "the text was complete")


def ms_field(field: str, description: str, *, decimals: int = 1
             ) -> Callable[[admin.ModelAdmin, object], str]:
    """A display method showing a record's float ``field`` in ms (sortable by it), for
    ``list_display``, ``fields`` and ``fieldsets`` (the admin shows raw floats otherwise)."""
    @admin.display(description=description, ordering=field)
    def show(model_admin: admin.ModelAdmin, obj: object) -> str:
        return ms(getattr(obj, field), decimals=decimals)

    show.__doc__ = f"``{field}`` in ms, {decimals} decimal(s) at most."
    return show


class RecordAdmin(admin.ModelAdmin):
    """Records written by the streams: viewed (and deleted) here, never added or edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Records are written by streams, not typed in."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """Read-only: the record is what happened."""
        return False

    def on_changelist(self, request: HttpRequest) -> bool:
        """Whether this request is the changelist (where heavy columns are deferred)."""
        match = getattr(request, "resolver_match", None)
        opts = self.model._meta
        return bool(match and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist")


class RecordInline(admin.TabularInline):
    """Parts of a record (segments, turns), written by the streams: shown, never edited."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """Parts are recorded by streams."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        """Read-only."""
        return False
