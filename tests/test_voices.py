"""``/api/voices`` and the pages' pickers: available providers, voices, or why not."""
from __future__ import annotations

import pytest
from django.test import AsyncClient

from tests.loopback_google import LoopbackGoogleTTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch, tmp_path) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud ADC file either


def by_alias(payload: dict) -> dict[str, dict]:
    return {p["alias"]: p for p in payload["providers"]}


async def test_unconfigured_cloud_voices_are_listed_as_unavailable_with_the_reason() -> None:
    response = await AsyncClient().get("/api/voices")

    providers = by_alias(response.json())
    assert response.json()["default"] == "piper"
    assert providers["piper"]["available"] and providers["piper"]["voices"] == [
        "en_US-joe-medium"]
    assert not providers["google"]["available"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in providers["google"]["reason"]
    assert not providers["openai"]["available"]
    assert "OPENAI_API_KEY" in providers["openai"]["reason"]
    assert "simulated" not in providers


async def test_google_voices_come_from_list_voices(settings) -> None:
    async with LoopbackGoogleTTS() as server:
        tts = dict(settings.STREAMING_PROVIDERS["tts"])
        tts["google"] = {**tts["google"], "OPTIONS": {"endpoint": server.endpoint,
                                                      "insecure": True}}
        settings.STREAMING_PROVIDERS = {**settings.STREAMING_PROVIDERS, "tts": tts}
        google = by_alias((await AsyncClient().get("/api/voices")).json())["google"]
        page = await AsyncClient().get("/tts/")

    assert google["available"] and google["default_voice"] == "en-US-Chirp3-HD-Charon"
    assert {"en-US-Standard-C", "de-DE-Chirp3-HD-Kore"} <= set(google["voices"])
    assert b"en-US-Standard-C" in page.content  # the page's picker has them too


async def test_both_pages_offer_the_providers_and_say_why_some_are_unavailable() -> None:
    for path in ("/tts/", "/tts/interface", "/voicebot/", "/voicebot/interface"):
        page = await AsyncClient().get(path)
        assert page.status_code == 200
        assert b"GOOGLE_APPLICATION_CREDENTIALS" in page.content
