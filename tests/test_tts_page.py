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
DONE = "() => window.__voicebot && window.__voicebot.doneAt !== null"
FINISHED = "() => window.__voicebot && window.__voicebot.drainedAt !== null"

# Installed by a test before it starts a stream: records every value the audio bar takes
# (null while it is indeterminate) and every text the status line shows, in order.
WATCH_PAGE = """() => {
  const seen = (window.__seen = { audio: [], status: [] });
  const bar = document.querySelector("#audio-progress");
  const status = document.querySelector("#status");
  new MutationObserver((records) => records.forEach((r, i) => {
    const value = i + 1 < records.length ? records[i + 1].oldValue : bar.getAttribute("value");
    seen.audio.push(value === null ? null : Number(value));
  })).observe(bar, { attributes: true, attributeFilter: ["value"], attributeOldValue: true });
  new MutationObserver((records) => records.forEach((r) => {
    for (const node of r.addedNodes) seen.status.push(node.textContent);
  })).observe(status, { childList: true });
}"""


def first_index(texts: list[str], prefix: str) -> int:
    """Where the status line first showed a text starting with ``prefix``."""
    return next(i for i, text in enumerate(texts) if text.startswith(prefix))


def assert_audio_definition(page: object, *words: str) -> None:
    """The "Audio synthesized" definition is the bar's tooltip and its description, the
    keyboard opens it, and no template comment shows on the page."""
    bar = page.locator("#audio-progress")
    definition = bar.get_attribute("title")
    assert definition and all(word in definition for word in words), definition
    assert bar.get_attribute("aria-describedby") == "audio-progress-help"
    help_text = page.locator("#audio-progress-help")
    assert help_text.text_content() == definition
    assert page.locator("label[for=audio-progress]").get_attribute("title") == definition
    body = page.inner_text("body")
    assert "{#" not in body and "#}" not in body  # a template comment spilled onto the page
    assert not help_text.is_visible()
    page.focus(".meter .tip summary")
    page.keyboard.press("Enter")
    assert help_text.is_visible()
    page.keyboard.press("Enter")
    assert not help_text.is_visible()


class TTSPageTest(LiveServerTestCase):
    """Type a paragraph, press Speak, hear audio before the server says done."""

    def test_speaking_a_paragraph_starts_playback_before_done(self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/tts/")
            page.fill("#text", PARAGRAPH)
            page.click("#speak")
            page.wait_for_function(DONE, timeout=60_000)
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

    def test_streamed_input_audio_bar_never_decreases_and_status_shows_each_phase(self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/tts/?stream=1")
            assert page.is_checked("#stream-input")
            page.fill("#text", PARAGRAPH)
            page.evaluate(WATCH_PAGE)
            page.click("#speak")
            page.wait_for_function(FINISHED, timeout=60_000)
            seen = page.evaluate("() => window.__seen")
            state = page.evaluate("() => window.__voicebot")
            browser.close()

        assert errors == []
        assert state["doneStatus"] == "completed"
        audio = seen["audio"]
        assert None not in audio  # the TTS page knows its total: always a share
        assert audio == sorted(audio), audio  # never moves back while the text streams in
        assert audio[-1] == 100
        assert any(0 < value < 100 for value in audio)  # it grew during the stream
        status = seen["status"]
        receiving = first_index(status, "Receiving text…")
        speaking = first_index(status, "Speaking…")
        finishing = first_index(status, "Finishing…")
        done = first_index(status, "Done: played")
        assert receiving < speaking < finishing < done, status

    def test_audio_synthesized_tooltip_is_keyboard_reachable_and_no_template_comment_shows(
            self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/tts/")
            assert_audio_definition(page, "Share of the text", "seconds before it plays")
            browser.close()

        assert errors == []
