"""The TTS page in a real headless Chromium against a live Daphne server.

The tests watch the page as a person does: its text, its readouts, its progress bars, the
state it shows on its root element (``data-state``) and its "Stream details" panel."""
from __future__ import annotations

import json

from streaming.models import StreamSession
from tests.browser import WATCH_CAPTIONS, LiveServerTestCase, assert_captions_followed

PARAGRAPH = (
    "Good afternoon. This page speaks while it is still synthesizing. "
    "The first sentence plays before the last one is ready. "
    "That is the whole point of streaming speech."
)

# Installed by a test before it starts a stream: one observer of the whole app, so that its
# log keeps the order in which things changed on the page: ["audio", value] for every value
# the audio bar takes (null while it is indeterminate), ["status", text] for every text the
# status line shows, [id, text] for every text a latency readout shows.
WATCH_PAGE = """() => {
  const log = (window.__seen = []);
  const app = document.querySelector(".app");
  const bar = document.querySelector("#audio-progress");
  new MutationObserver((records) => records.forEach((r, i) => {
    if (r.target === bar && r.type === "attributes") {
      // this record's value is the next bar record's old value (or the value now)
      const next = records.slice(i + 1).find((n) => n.target === bar && n.type === "attributes");
      const value = next ? next.oldValue : bar.getAttribute("value");
      log.push(["audio", value === null ? null : Number(value)]);
    } else if (r.type === "childList" && r.target.id === "status") {
      for (const node of r.addedNodes) log.push(["status", node.textContent]);
    } else if (r.type === "childList" && r.target.matches(".readouts dd")) {
      log.push([r.target.id, r.target.textContent]);
    }
  })).observe(app, { subtree: true, childList: true, attributes: true,
                     attributeFilter: ["value"], attributeOldValue: true });
}"""


def wait_finished(page: object, app: str, timeout: float = 60_000) -> str:
    """Wait until the page's stream has finished (its audio played out, or it ended
    otherwise) and return how: the ``data-state`` of the page's root element ``#app``."""
    running = '["idle", "pending", "streaming", "stopping"]'
    page.wait_for_function(
        f"() => !{running}.includes(document.getElementById('{app}').dataset.state)",
        timeout=timeout)
    return page.get_attribute(f"#{app}", "data-state")


def seen(page: object) -> list[tuple[str, object]]:
    """What the page showed since ``WATCH_PAGE``, in order."""
    return [tuple(entry) for entry in page.evaluate("() => window.__seen")]


def shown(log: list[tuple[str, object]], what: str) -> list[object]:
    """The values ``what`` ("audio", "status" or a readout's id) took, in order."""
    return [value for name, value in log if name == what]


def first_index(log: list[tuple[str, object]], what: str, prefix: str = "") -> int:
    """Where in ``log`` ``what`` first showed a text starting with ``prefix`` (for a
    readout: its first value other than "–")."""
    return next(i for i, (name, value) in enumerate(log)
                if name == what and str(value).startswith(prefix) and value != "–")


def stream_details(page: object) -> dict[str, str]:
    """Open the "Stream details" panel and read it: session, events, audio (and mic)."""
    if not page.locator(".stream-details").evaluate("d => d.open"):
        page.click(".stream-details summary")
    return {name: page.inner_text(f"#detail-{name}")
            for name in ("session", "events", "audio", "mic")
            if page.locator(f"#detail-{name}").count()}


def event_types(details: dict[str, str]) -> list[str]:
    """The event types of "Events received", in the order each first arrived."""
    return [entry.split("×")[0].strip() for entry in details["events"].split("·")]


def assert_heard_before_done(log: list[tuple[str, object]]) -> None:
    """The first audio arrived and played while the stream was still running: both readouts
    were filled before the status line said all the audio was in ("Finishing…")."""
    finishing = first_index(log, "status", "Finishing…")
    assert first_index(log, "ttfa") < finishing, log
    assert first_index(log, "playback-start") < finishing, log
    assert first_index(log, "status", "Done: played") > finishing, log


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


def assert_ttfa_readouts_told_apart(page: object, *request_words: str) -> None:
    """The two "Time to first audio" readouts say which is the browser's and which the
    server's, and a visible note and their tooltips say where each counts from."""
    browser_cell = page.locator(".readouts div", has=page.locator("#ttfa"))
    server_cell = page.locator(".readouts div", has=page.locator("#ttfa-server"))
    assert browser_cell.locator("dt").inner_text().split() == ["Time", "to", "first", "audio",
                                                               "browser"]
    assert server_cell.locator("dt").inner_text().split() == ["Time", "to", "first", "audio",
                                                              "server"]
    assert "sending the request" in browser_cell.get_attribute("title")
    assert "first audio frame it sent" in server_cell.get_attribute("title")
    note = page.locator("#readouts-help")
    assert note.is_visible()
    assert page.locator(".readouts").get_attribute("aria-describedby") == "readouts-help"
    text = note.inner_text()
    for words in ("browser counts from sending the request", "server from the stream's start",
                  "first audio frame it sent", *request_words):
        assert words in text, text


class TTSPageTest(LiveServerTestCase):
    """Type a paragraph, press Speak, hear audio before the server says done."""

    def test_speaking_a_paragraph_starts_playback_before_done(self) -> None:
        with self.browse("/tts/") as (page, errors):
            sent: list[str | bytes] = []
            page.on("websocket", lambda socket: socket.on(
                "framesent", lambda frame: sent.append(frame)))  # not a builtin: Playwright
            page.fill("#text", PARAGRAPH)
            page.evaluate(WATCH_PAGE)
            page.click("#speak")
            assert wait_finished(page, "tts-app") == "completed"
            log = seen(page)
            details = stream_details(page)
            audio_bar = page.get_attribute("#audio-progress", "value")

        assert errors == []
        assert_heard_before_done(log)
        played = [message for message in map(json.loads, filter(
            lambda frame: isinstance(frame, str), sent)) if message["type"] == "played"]
        assert played and {p["session_id"] for p in played} == {details["session"]}
        assert audio_bar == "100"
        events = event_types(details)
        assert events.index("session") < events.index("segment") < events.index("audio")
        assert events.index("audio") < events.index("metrics") < events.index("done")
        assert details["audio"].endswith("kB")
        session = StreamSession.objects.get(id=details["session"])
        assert session.status == "completed" and session.tts_provider == "piper"
        assert session.input_text == PARAGRAPH and session.segment_count >= 3

    def test_captions_mark_each_word_as_it_is_heard_in_order_to_the_last(self) -> None:
        with self.browse("/tts/") as (page, errors):
            page.fill("#text", PARAGRAPH)
            page.evaluate(WATCH_CAPTIONS)
            page.click("#speak")
            assert wait_finished(page, "tts-app") == "completed"
            session_id = stream_details(page)["session"]
            caption = page.inner_text("#caption")

            assert_captions_followed(page, session_id)

        assert errors == []
        assert caption == "That is the whole point of streaming speech."

    def test_arriving_segments_do_not_scroll_the_page_away_from_speak_and_stop(self) -> None:
        # a phone's width: the segment list is far below Speak and Stop
        with self.browse("/tts/", viewport={"width": 390, "height": 800}) as (page, errors):
            page.fill("#text", "One sentence first. Then a second one.")
            page.click("#speak")
            scrolled_at_speak = page.evaluate("() => window.scrollY")
            assert wait_finished(page, "tts-app") == "completed"
            scrolled_at_end = page.evaluate("() => window.scrollY")
            segments = page.locator("#segments li").count()

        assert errors == []
        assert segments >= 2
        assert scrolled_at_end == scrolled_at_speak

    def test_streamed_input_audio_bar_never_decreases_and_status_shows_each_phase(self) -> None:
        with self.browse("/tts/?stream=1") as (page, errors):
            assert page.is_checked("#stream-input")
            page.fill("#text", PARAGRAPH)
            page.evaluate(WATCH_PAGE)
            page.click("#speak")
            assert wait_finished(page, "tts-app") == "completed"
            log = seen(page)

        assert errors == []
        audio = shown(log, "audio")
        assert None not in audio  # the TTS page knows its total: always a share
        assert audio == sorted(audio), audio  # never moves back while the text streams in
        assert audio[-1] == 100
        assert any(0 < value < 100 for value in audio)  # it grew during the stream
        receiving = first_index(log, "status", "Receiving text…")
        speaking = first_index(log, "status", "Speaking…")
        finishing = first_index(log, "status", "Finishing…")
        done = first_index(log, "status", "Done: played")
        assert receiving < speaking < finishing < done, log

    def test_audio_synthesized_tooltip_is_keyboard_reachable_and_no_template_comment_shows(
            self) -> None:
        with self.browse("/tts/") as (page, errors):
            assert_audio_definition(page, "Share of the text", "seconds before it plays")

        assert errors == []

    def test_browser_and_server_time_to_first_audio_are_told_apart(self) -> None:
        with self.browse("/tts/") as (page, errors):
            assert_ttfa_readouts_told_apart(page)

        assert errors == []
