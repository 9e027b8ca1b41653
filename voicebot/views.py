"""The voicebot page."""
from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from streaming import access
from streaming.providers import default_alias
from streaming.voices import voice_catalog
from voicebot.consumers import llm_info


@access.page
async def voicebot_page(request: HttpRequest) -> HttpResponse:
    """Speak or type; the answer streams into speech."""
    info = llm_info(default_alias("llm"))
    return await sync_to_async(render)(request, "voicebot.html", {
        "tts_providers": await voice_catalog(),
        "default_tts": default_alias("tts"),
        "llm": {"alias": info["llm"], "label": info["llm_label"], "hint": info["llm_hint"]},
        "ws_path": "/api/voicebot/streaming",
        "max_text_chars": settings.STREAMING["MAX_TEXT_CHARS"],
        "max_audio_seconds": settings.VOICEBOT["MAX_AUDIO_SECONDS"],
    })
