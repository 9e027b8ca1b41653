"""The shared streaming core."""
from django.apps import AppConfig


class StreamingConfig(AppConfig):
    """Segmenter, engine, providers, consumer mixin, session records."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "streaming"
    verbose_name = "Streaming sessions"
