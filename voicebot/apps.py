"""The voicebot page and its WebSocket endpoint."""
from django.apps import AppConfig


class VoicebotConfig(AppConfig):
    """A spoken conversation with an LLM."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "voicebot"
    verbose_name = "Voicebot"

    def ready(self) -> None:
        """Connect the voicebot's receivers of the core's signals; report its turn-taking
        metrics with the sessions' latency; load its voice-activity model at start."""
        from streaming.readiness import add_model
        from streaming.reports import add_metric
        from voicebot import pruning  # noqa: F401
        from voicebot.vad import silero_loaded, silero_session

        add_model("vad:silero", silero_session, silero_loaded)

        add_metric("voicebot_turn__stt_ms", "STT")
        add_metric("voicebot_turn__speech_end_to_audio_ms", "speech end → audio")
        add_metric("voicebot_turn__barge_in_stop_ms", "barge-in stop")
