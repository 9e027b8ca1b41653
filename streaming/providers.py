"""Provider registry: aliases to adapter instances, from ``settings.STREAMING_PROVIDERS``.

Like ``CHANNEL_LAYERS``: each alias names a dotted path (``BACKEND``) and ``OPTIONS``.
The adapter's module (and so its SDK) is imported only when the alias is first used;
one instance per alias and process is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

ROLES = ("tts", "llm", "stt")


class UnknownProvider(LookupError):
    """An alias that is not configured for the role."""


class UnknownVoice(LookupError):
    """A voice the TTS provider does not have."""


@dataclass(frozen=True)
class ProviderInfo:
    """What a page may show about a configured provider."""

    alias: str
    label: str
    hidden: bool
    hint: str = ""  # one line for the page about what this provider is


def _config(role: str) -> dict[str, dict]:
    if role not in ROLES:
        raise ValueError(f"unknown provider role {role!r}")
    return settings.STREAMING_PROVIDERS.get(role, {})


def default_alias(role: str) -> str:
    """The alias used when a request names none."""
    return settings.STREAMING_DEFAULTS[role]


def providers(role: str, *, include_hidden: bool = False) -> list[ProviderInfo]:
    """The configured providers of a role, in settings order."""
    infos = [
        ProviderInfo(alias, conf.get("LABEL", alias), bool(conf.get("HIDDEN")),
                     conf.get("HINT", ""))
        for alias, conf in _config(role).items()
    ]
    return [info for info in infos if include_hidden or not info.hidden]


def unknown_provider(role: str, alias: str) -> UnknownProvider:
    """The error for an alias a client may not use, naming the ones it may (not the hidden)."""
    choices = ", ".join(p.alias for p in providers(role)) or "none"
    return UnknownProvider(f"unknown {role} provider {alias!r} (configured: {choices})")


@cache
def get_provider(role: str, alias: str | None = None) -> object:
    """The adapter instance for ``alias`` (default: the role's default)."""
    alias = alias or default_alias(role)
    conf = _config(role).get(alias)
    if conf is None:
        raise unknown_provider(role, alias)
    try:
        backend = import_string(conf["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{role} provider {alias!r}: cannot import {conf['BACKEND']}: {exc}"
        ) from exc
    return backend(**conf.get("OPTIONS", {}))


@receiver(setting_changed)
def _reset_on_settings_change(setting: str, **kwargs: object) -> None:
    if setting in {"STREAMING_PROVIDERS", "STREAMING_DEFAULTS"}:
        get_provider.cache_clear()
