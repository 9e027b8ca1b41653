"""The voice catalog, one for the pickers and the endpoints: every configured TTS provider,
its voices (configured, and listed by the service when it can list them), or why it is
unavailable; and the check of a requested provider and voice against it."""
from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import TTS, ProviderError
from streaming.providers import (
    UnknownVoice,
    default_alias,
    get_provider,
    providers,
    unknown_provider,
)

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
        tts.check()
    except ImproperlyConfigured as exc:
        return {**entry, "available": False, "reason": str(exc)}
    voices, reason = await voices_of(tts)
    return {**entry, "voices": voices, "default_voice": voices[0] if voices else "",
            "reason": reason}


async def voices_of(tts: TTS) -> tuple[list[str], str]:
    """The provider's voices (configured first, then listed), and why the list is short
    when the service could not be asked ("" when it could, or cannot list)."""
    voices = [str(v) for v in tts.voices]
    if not tts.can_list_voices:
        return voices, ""
    try:
        listed = await asyncio.wait_for(tts.list_voices(), LIST_TIMEOUT_S)
    except (ProviderError, ImproperlyConfigured, TimeoutError) as exc:
        return voices, f"voice list unavailable ({exc or 'timeout'}); default voice only"
    return voices + [v["name"] for v in listed if v["name"] not in voices], ""


async def resolve_tts(alias: str | None, voice: str | None, *, operator: bool = False
                      ) -> tuple[TTS, str, str | None]:
    """The TTS adapter, its alias and the voice (default: its first) for a request: a voice
    the catalog offers is accepted; a hidden provider only when ``STREAMING_HIDDEN_PROVIDERS``
    is on or an ``operator`` (a management command) asks. Raises ``UnknownProvider``,
    ``UnknownVoice`` or ``ImproperlyConfigured``."""
    allow_hidden = operator or settings.STREAMING["HIDDEN_PROVIDERS"]
    if alias and alias != default_alias("tts") and not allow_hidden:
        if alias not in (info.alias for info in providers("tts")):  # hidden: as if unknown
            raise unknown_provider("tts", alias)
    alias = alias or default_alias("tts")
    tts = get_provider("tts", alias)
    configured = [str(v) for v in tts.voices]
    if voice and configured and voice not in configured:
        voices, _ = await voices_of(tts)
        if voice not in voices:
            raise UnknownVoice(f"{alias} has no voice {voice!r} "
                               f"(voices: {', '.join(voices[:20])})")
    return tts, alias, voice or (configured[0] if configured else None)
