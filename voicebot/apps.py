"""The voicebot page and its WebSocket endpoint."""
from django.apps import AppConfig


class VoicebotConfig(AppConfig):
    """A spoken conversation with an LLM."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "voicebot"
    verbose_name = "Voicebot"

    def ready(self) -> None:
        """Connect the voicebot's receivers of the core's signals."""
        from voicebot import pruning  # noqa: F401
