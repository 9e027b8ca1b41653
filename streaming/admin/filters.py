"""The session changelist's filters: latency buckets and providers by role."""
from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from streaming.reports import REPLAYS

NO_PROVIDER = "-"


class LatencyBucketFilter(admin.SimpleListFilter):
    """Sessions by time to first audio: < 300 ms, 300-800 ms, > 800 ms, unknown."""

    title = "time to first audio"
    parameter_name = "ttfa"
    buckets: dict[str, tuple[str, Q]] = {
        "fast": ("< 300 ms", Q(ttfa_ms__lt=300)),
        "medium": ("300–800 ms", Q(ttfa_ms__gte=300, ttfa_ms__lte=800)),
        "slow": ("> 800 ms", Q(ttfa_ms__gt=800)),
        "unknown": ("unknown (no audio)", Q(ttfa_ms__isnull=True)),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        """The four buckets."""
        return [(key, label) for key, (label, _) in self.buckets.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Sessions of the chosen bucket."""
        bucket = self.buckets.get(self.value() or "")
        return queryset.filter(bucket[1]) if bucket else queryset


class ReplayFilter(admin.SimpleListFilter):
    """Sessions that are replays (stored by ``replay_session(s)``), or that are not."""

    title = "replays"
    parameter_name = "replay"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        """Originals or replays."""
        return [("no", "not replays"), ("yes", "replays only")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Sessions of the chosen side."""
        if self.value() == "no":
            return queryset.exclude(REPLAYS)
        if self.value() == "yes":
            return queryset.filter(REPLAYS)
        return queryset


class ProviderFilter(admin.SimpleListFilter):
    """Sessions by provider alias of one role.

    The choices are the aliases configured in ``STREAMING_PROVIDERS`` (no ``DISTINCT``
    scan of the sessions table); any other alias still filters through the URL.
    ``lookup`` is the column (``parameter_name`` when unset); "(none)" also matches
    sessions without the related row a lookup across a relation names.
    """

    role = "tts"
    lookup = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        """Configured aliases, the current value, and "(none)" for optional roles."""
        aliases = sorted(getattr(settings, "STREAMING_PROVIDERS", {}).get(self.role, {}))
        current = self.value()
        if current and current != NO_PROVIDER and current not in aliases:
            aliases.append(current)
        choices: list[tuple[str, str]] = [(alias, alias) for alias in aliases]
        if self.role != "tts":
            choices.append((NO_PROVIDER, "(none)"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Sessions that used the chosen alias."""
        value = self.value()
        if value is None:
            return queryset
        lookup = self.lookup or self.parameter_name
        if value == NO_PROVIDER:
            return queryset.exclude(**{f"{lookup}__gt": ""})
        return queryset.filter(**{lookup: value})


class TTSProviderFilter(ProviderFilter):
    """By TTS provider."""

    title = "TTS provider"
    parameter_name = "tts_provider"
    role = "tts"


class LLMProviderFilter(ProviderFilter):
    """By LLM provider."""

    title = "LLM provider"
    parameter_name = "llm_provider"
    role = "llm"
