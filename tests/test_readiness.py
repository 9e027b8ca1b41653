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
from voicebot.vad import silero_session

pytestmark = pytest.mark.django_db


def test_healthz_is_unavailable_until_the_voice_has_loaded_then_ready(
        client, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piper, "_voices", {})  # no voice loaded in this process yet
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "tts": "piper"}  # new adapter

    before = client.get("/healthz")
    readiness.warm_up()
    assert get_provider("tts", "piper").pool.wait_idle(30)
    assert get_provider("stt", settings.STREAMING_DEFAULTS["stt"]).wait_ready(60)
    silero_session()  # returns when the start-up load has finished
    after = client.get("/healthz")

    assert before.status_code == 503
    assert before.json()["providers"]["tts:piper"] == {"ready": False}
    assert after.status_code == 200 and after.json()["ready"] is True
    assert after.json()["providers"]["tts:piper"] == {"ready": True}
    assert set(after.json()["providers"]) == {
        "tts:piper", f"llm:{settings.STREAMING_DEFAULTS['llm']}",
        f"stt:{settings.STREAMING_DEFAULTS['stt']}", "vad:silero"}


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


def test_an_apps_model_that_cannot_load_is_reported_with_its_error(
        client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "_models", {})
    monkeypatch.setattr(readiness, "_model_errors", {})

    def broken() -> None:
        raise OSError("no such model file")

    readiness.add_model("test:broken", broken, lambda: False)
    readiness._load_model("test:broken", broken)  # what warm_up runs in a thread
    response = client.get("/healthz")

    assert response.json()["ready"] is False
    assert response.json()["providers"]["test:broken"] == {
        "ready": False, "error": "OSError: no such model file"}


def test_healthz_names_an_unknown_default_provider(client, settings) -> None:
    settings.STREAMING_DEFAULTS = {**settings.STREAMING_DEFAULTS, "llm": "nosuch"}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "unknown llm provider 'nosuch'" in response.json()["providers"]["llm:nosuch"]["error"]


def test_the_server_process_loads_voice_llm_and_stt_at_start_without_any_connection() -> None:
    script = textwrap.dedent("""
        import time
        import voicebot_site.asgi  # what daphne imports at start
        from streaming.readiness import status
        deadline = time.monotonic() + 90
        while not status()["ready"] and time.monotonic() < deadline:
            time.sleep(0.05)  # polls the adapters the import warmed up, if it did
        print(status())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=django_settings.BASE_DIR,
                          env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin",
                               "TTS_PROVIDER": "piper", "LLM_PROVIDER": "local",
                               "STT_PROVIDER": "whisper"})

    assert done.returncode == 0, done.stderr
    ready = {"ready": True}
    assert done.stdout.strip() == str({"ready": True, "providers": {
        "tts:piper": ready, "llm:local": ready, "stt:whisper": ready, "vad:silero": ready}})
