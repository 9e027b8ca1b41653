"""The voicebot's ``Conversation`` without sockets: history, turns, the cap, the cut of an
answer to what was heard; and its record, written in order in the background."""
from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from voicebot.conversation import Conversation, ConversationRecord
from voicebot.models import Conversation as ConversationRow

ANSWER = "One two three four. Five six seven eight."


def heard_at(ms: float) -> str:
    """Words heard by ``ms``: one word per 100 ms of the answer's 800 ms."""
    return " ".join(ANSWER.split()[: int(ms // 100)])


def answered_once(max_messages: int = 40) -> tuple[Conversation, uuid.UUID]:
    talk = Conversation("rules", "Be brief.", max_messages=max_messages)
    talk.ask("Count to eight.")
    session = uuid.uuid4()
    talk.answered(session, ANSWER, audio_ms=800, heard_at=heard_at)
    return talk, session


def test_a_turn_adds_the_users_words_and_gives_the_llm_the_system_prompt_first() -> None:
    talk = Conversation("rules", "Be brief.", max_messages=40)

    messages = talk.ask("Hello?")

    assert messages == [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Hello?"}]
    assert talk.turns == 1 and talk.history == messages[1:]


def test_the_history_keeps_the_last_messages_from_a_users_message_on() -> None:
    talk = Conversation("rules", "", max_messages=3)
    for n in range(3):
        talk.ask(f"Question {n}?")
        talk.answered(uuid.uuid4(), f"Answer {n}.", audio_ms=100, heard_at=heard_at)

    assert [m["content"] for m in talk.history] == ["Question 2?", "Answer 2."]
    assert talk.ask("Question 3?")[0] == {"role": "user", "content": "Question 2?"}
    assert talk.turns == 4


def test_an_answer_nobody_heard_stays_out_of_the_history() -> None:
    talk = Conversation("rules", "", max_messages=40)
    talk.ask("Hello?")

    talk.answered(uuid.uuid4(), "", audio_ms=0, heard_at=heard_at)

    assert talk.history == [{"role": "user", "content": "Hello?"}]
    assert talk.cut_last_answer(0) is None


def test_stopping_the_last_answer_cuts_it_to_the_words_heard() -> None:
    talk, session = answered_once()

    cut = talk.cut_last_answer(350)

    assert cut == (session, "One two three")
    assert talk.history[-1] == {"role": "assistant", "content": "One two three"}
    assert talk.cut_last_answer(100) is None  # once only


def test_stopping_before_any_word_removes_the_answer_and_after_its_end_changes_nothing(
) -> None:
    talk, session = answered_once()
    assert talk.cut_last_answer(50) == (session, "")
    assert talk.history == [{"role": "user", "content": "Count to eight."}]

    talk, _ = answered_once()
    assert talk.cut_last_answer(800) is None
    assert talk.history[-1]["content"] == ANSWER


def test_a_new_turn_means_the_answer_before_can_no_longer_be_cut() -> None:
    talk, _ = answered_once()
    talk.ask("And then?")

    assert talk.cut_last_answer(100) is None
    assert talk.history[1]["content"] == ANSWER


def test_a_cut_finds_its_answer_after_the_cap_moved_the_history() -> None:
    talk, _ = answered_once(max_messages=3)
    talk.ask("Again?")
    session = uuid.uuid4()
    talk.answered(session, ANSWER, audio_ms=800, heard_at=heard_at)  # the cap drops two

    assert talk.cut_last_answer(250) == (session, "One two")
    assert talk.history == [{"role": "user", "content": "Again?"},
                            {"role": "assistant", "content": "One two"}]


@database_sync_to_async
def stored(conversation_id: uuid.UUID) -> ConversationRow:
    return ConversationRow.objects.get(id=conversation_id)


@pytest.mark.django_db(transaction=True)
async def test_the_record_is_written_in_order_and_the_last_state_wins() -> None:
    talk, _ = answered_once()
    record = ConversationRecord()

    first = record.save(talk)
    talk.ask("And then?")
    last = record.save(talk)
    await last

    assert first.done()
    row = await stored(talk.id)
    assert row.turns == 2 and row.history[-1] == {"role": "user", "content": "And then?"}
    assert row.system_prompt == "Be brief." and row.llm_provider == "rules"
