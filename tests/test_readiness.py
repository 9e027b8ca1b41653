"""Ready before the first user: models load at server start; ``/healthz`` says when."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from django.conf import settings as django_settings

from streaming import readiness
from streaming.providers import get_provider
from tts.providers import piper

pytestmark = pytest.mark.django_db


def test_healthz_is_unavailable_until_the_voice_has_loaded_then_ready(
        client, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "_voices", {})  # no voice loaded in this process yet
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "tts": "piper"}  # new adapter

    before = client.get("/healthz")
    readiness.warm_up()
    assert get_provider("tts", "piper").pool.wait_idle(30)
    after = client.get("/healthz")

    assert before.status_code == 503
    assert before.json()["providers"]["tts:piper"] == {"ready": False}
    assert after.status_code == 200 and after.json()["ready"] is True
    assert after.json()["providers"]["tts:piper"] == {"ready": True}
    assert set(after.json()["providers"]) == {
        "tts:piper", f"llm:{settings.STREAMING_DEFAULTS['llm']}",
        f"stt:{settings.STREAMING_DEFAULTS['stt']}"}


def test_healthz_reports_a_voice_that_cannot_load(client, settings) -> None:
    providers = {**settings.STREAMING_PROVIDERS, "tts": {**settings.STREAMING_PROVIDERS["tts"]}}
    providers["tts"]["piper"] = {**providers["tts"]["piper"], "OPTIONS": {
        "model_path": "/nonexistent/voice.onnx", "max_workers": 1}}
    settings.STREAMING_PROVIDERS = providers

    readiness.warm_up()
    assert get_provider("tts", "piper").pool.wait_idle(30)
    response = client.get("/healthz")

    assert response.status_code == 503
    entry = response.json()["providers"]["tts:piper"]
    assert entry["ready"] is False and "nonexistent" in entry["error"]


def test_healthz_names_an_unknown_default_provider(client, settings) -> None:
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "nosuch"}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "unknown llm provider 'nosuch'" in response.json()["providers"]["llm:nosuch"]["error"]


def test_the_server_process_loads_the_voice_at_start_without_any_connection() -> None:
    script = textwrap.dedent("""
        import voicebot_site.asgi  # what daphne imports at start
        from streaming.providers import get_provider
        tts = get_provider("tts", "piper")  # the adapter the import warmed up, if it did
        print("ready-after", tts.pool.wait_idle(60) and tts.ready)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=django_settings.BASE_DIR,
                          env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin",
                               "TTS_PROVIDER": "piper"})

    assert done.returncode == 0, done.stderr
    assert "ready-after True" in done.stdout
