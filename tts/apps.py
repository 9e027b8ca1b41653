"""The TTS page and its WebSocket endpoint."""
from django.apps import AppConfig


class TtsConfig(AppConfig):
    """Text in, speech out."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "tts"
    verbose_name = "Text to speech"
