"""Readiness: models load when the server process starts, and ``/healthz`` says when.

``warm_up()`` runs once per server process (``voicebot_site.asgi`` calls it): every
provider a first session may need (the default TTS and its fallbacks, the default LLM and
STT) gets its ``warm_up()`` called, which loads its model in the provider's own workers.
``status()`` reports each one: an adapter with a ``ready`` attribute is ready when it says
so; one without has nothing to load. Apps add models of their own that are not providers
(the voicebot's voice-activity detector) with ``add_model`` in their ``ready()``: they load
in a thread of their own at start and are reported beside the providers.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse

from streaming.providers import UnknownProvider, default_alias, get_provider

logger = logging.getLogger(__name__)

# name -> (load it: idempotent and thread-safe, whether it has loaded)
_models: dict[str, tuple[Callable[[], object], Callable[[], bool]]] = {}
_model_errors: dict[str, str] = {}


def add_model(name: str, load: Callable[[], object], loaded: Callable[[], bool]) -> None:
    """Load an app's own model at start too, and report it as ``name`` (e.g.
    ``"vad:silero"``): ``load()`` loads it once per process, ``loaded()`` says if it has."""
    _models[name] = (load, loaded)


def _load_model(name: str, load: Callable[[], object]) -> None:
    try:
        load()
    except Exception as exc:
        logger.exception("%s cannot be loaded", name)
        _model_errors[name] = f"{type(exc).__name__}: {exc}"


def needed() -> list[tuple[str, str]]:
    """(role, alias) of every provider a session may use first, without repeats."""
    wanted = [("tts", default_alias("tts")),
              *(("tts", alias) for alias in settings.STREAMING["TTS_FALLBACK"]),
              ("llm", default_alias("llm")), ("stt", default_alias("stt"))]
    return list(dict.fromkeys(wanted))


def warm_up() -> None:
    """Start loading every needed provider's model (in its own workers; returns at once)."""
    # The local engines' workers would import numpy at the same time, and a first import of
    # numpy racing in two threads fails ("partially initialized module"): import it here.
    import numpy  # noqa: F401

    for role, alias in needed():
        try:
            provider = get_provider(role, alias)
        except (UnknownProvider, ImproperlyConfigured) as exc:
            logger.warning("%s provider %r cannot be loaded: %s", role, alias, exc)
            continue
        provider.warm_up()
    for name, (load, _) in _models.items():
        threading.Thread(target=_load_model, args=(name, load), name=f"load-{name}",
                         daemon=True).start()


def status() -> dict:
    """``{"ready": bool, "providers": {"role:alias": {"ready": bool, "error"?: str}}}``."""
    providers: dict[str, dict] = {}
    for role, alias in needed():
        try:
            provider = get_provider(role, alias)
        except (UnknownProvider, ImproperlyConfigured) as exc:
            providers[f"{role}:{alias}"] = {"ready": False, "error": str(exc)}
            continue
        entry: dict = {"ready": bool(provider.ready)}
        if error := provider.load_error:
            entry["error"] = error
        providers[f"{role}:{alias}"] = entry
    for name, (_, loaded) in _models.items():
        providers[name] = {"ready": loaded()}
        if name in _model_errors:
            providers[name]["error"] = _model_errors[name]
    return {"ready": all(p["ready"] for p in providers.values()), "providers": providers}


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every needed provider is loaded, else 503 (for a proxy or orchestrator)."""
    report = status()
    return JsonResponse(report, status=200 if report["ready"] else 503)
