"""The TTS page in a real headless Chromium against a live Daphne server."""
from __future__ import annotations

from playwright.sync_api import sync_playwright

from streaming.models import StreamSession
from tests.browser import LiveServerTestCase, launch, new_page

PARAGRAPH = (
    "Good afternoon. This page speaks while it is still synthesizing. "
    "The first sentence plays before the last one is ready. "
    "That is the whole point of streaming speech."
)


class TTSPageTest(LiveServerTestCase):
    """Type a paragraph, press Speak, hear audio before the server says done."""

    def test_speaking_a_paragraph_starts_playback_before_done(self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/tts/")
            page.fill("#text", PARAGRAPH)
            page.click("#speak")
            page.wait_for_function(
                "() => window.__voicebot && window.__voicebot.doneAt !== null", timeout=60_000)
            state = page.evaluate("() => window.__voicebot")
            page.wait_for_function(
                "() => document.querySelector('#audio-progress').value >= 99", timeout=10_000)
            browser.close()

        assert errors == []
        assert state["doneStatus"] == "completed"
        assert state["playbackStartedAt"] is not None
        assert state["firstAudioAt"] < state["doneAt"]
        assert state["playbackStartedAt"] < state["doneAt"]
        events = state["events"]
        assert events.index("session") < events.index("segment") < events.index("audio")
        assert events.index("audio") < events.index("metrics") < events.index("done")
        session = StreamSession.objects.get(id=state["sessionId"])
        assert session.status == "completed" and session.tts_provider == "piper"
        assert session.input_text == PARAGRAPH and session.segment_count >= 3
