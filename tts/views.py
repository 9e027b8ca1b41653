"""The TTS page and the voice list endpoint."""
from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from streaming import access
from streaming.providers import default_alias
from streaming.voices import voice_catalog


@access.page
async def tts_page(request: HttpRequest) -> HttpResponse:
    """Text in, speech out, with progress and time to first audio."""
    return await sync_to_async(render)(request, "tts.html", {
        "tts_providers": await voice_catalog(),
        "default_tts": default_alias("tts"),
        "max_text_chars": settings.STREAMING["MAX_TEXT_CHARS"],
        "ws_path": "/api/tts/ws",
    })


@access.page
async def voices_api(request: HttpRequest) -> JsonResponse:
    """``/api/voices``: the TTS providers, their voices, or why they are unavailable."""
    return JsonResponse({"default": default_alias("tts"), "providers": await voice_catalog()})
