"""What a listening connection remembers of its last answer once the answer's stream has
ended: where the caller is in its tail, and its words (to recognise their echo)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from voicebot.floor import ECHO_MEMORY_S, ContinuousListening


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def test_the_tail_and_the_words_of_a_finished_answer_last_until_the_caller_played_them(
        clock: list[float]) -> None:
    floor = ContinuousListening()
    floor.init_listening()
    floor.stream = None
    engine = SimpleNamespace(audio_sent_ms=10_000.0, listener_ms=4_000.0)  # 6 s ahead
    floor.remember_answer(SimpleNamespace(engine=engine, session_id="s1"),
                          SimpleNamespace(spoken_text="Once upon a time."))

    clock[0] = 103.0
    assert floor.tail_position_ms() == pytest.approx(7_000.0) and floor.bot_speaking()
    clock[0] = 106.5  # played out: no tail to cut, but its echo may still come back
    assert floor.tail_position_ms() is None and not floor.bot_speaking()
    assert floor.bot_said() == "Once upon a time."
    clock[0] = 106.0 + ECHO_MEMORY_S + 0.1
    assert floor.bot_said() == ""
