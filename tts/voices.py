"""The voice catalog: every configured TTS provider, its voices, or why it is unavailable."""
from __future__ import annotations

import asyncio

from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import ProviderError
from streaming.providers import get_provider, providers

LIST_TIMEOUT_S = 5.0


async def voice_catalog() -> list[dict]:
    """One entry per public TTS provider, for the pages' pickers and ``/api/voices``.

    A provider is unavailable when it cannot be used as configured (missing SDK or
    credentials: its ``check()``); providers that can list their voices (``list_voices``)
    are asked, with a time limit, and fall back to their configured voices.
    """
    return list(await asyncio.gather(*(_entry(info.alias, info.label)
                                       for info in providers("tts"))))


async def _entry(alias: str, label: str) -> dict:
    entry = {"alias": alias, "label": label, "available": True, "reason": "",
             "voices": [], "default_voice": ""}
    try:
        tts = get_provider("tts", alias)
        check = getattr(tts, "check", None)
        if check is not None:
            check()
        voices = [str(v) for v in (getattr(tts, "voices", None) or [])]
    except ImproperlyConfigured as exc:
        return {**entry, "available": False, "reason": str(exc)}
    list_voices = getattr(tts, "list_voices", None)
    if list_voices is not None:
        try:
            listed = await asyncio.wait_for(list_voices(), LIST_TIMEOUT_S)
            voices += [v["name"] for v in listed if v["name"] not in voices]
        except (ProviderError, ImproperlyConfigured, TimeoutError) as exc:
            entry["reason"] = f"voice list unavailable ({exc or 'timeout'}); default voice only"
    return {**entry, "voices": voices, "default_voice": voices[0] if voices else ""}
