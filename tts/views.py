"""The TTS page."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from streaming.providers import default_alias, get_provider, providers


def tts_choices() -> list[dict]:
    """The TTS providers a page may offer, with their voices (or why they are unavailable)."""
    choices = []
    for info in providers("tts"):
        try:
            voices = list(getattr(get_provider("tts", info.alias), "voices", []) or [])
            reason = ""
        except ImproperlyConfigured as exc:
            voices, reason = [], str(exc)
        choices.append({"alias": info.alias, "label": info.label, "voices": voices,
                        "default_voice": voices[0] if voices else "",
                        "available": not reason, "reason": reason})
    return choices


def tts_page(request: HttpRequest) -> HttpResponse:
    """Text in, speech out, with progress and time to first audio."""
    return render(request, "tts.html", {
        "tts_providers": tts_choices(),
        "default_tts": default_alias("tts"),
        "max_text_chars": settings.STREAMING["MAX_TEXT_CHARS"],
        "ws_path": "/api/tts/ws",
    })
