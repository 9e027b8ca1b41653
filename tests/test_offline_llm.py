"""Tests for the built-in rule-based responder (voicebot.providers.offline_llm)."""
from __future__ import annotations

import asyncio
import itertools
import re
from datetime import datetime, timedelta

import pytest

from streaming.protocols import LLM
from voicebot.providers.offline_llm import SELF_DESCRIPTION, OfflineLLM, reflect


def user(text: str) -> dict:
    return {"role": "user", "content": text}


async def collect(llm: OfflineLLM, messages: list[dict]) -> list[str]:
    return [delta async for delta in llm.stream(messages)]


async def answer(llm: OfflineLLM, messages: list[dict]) -> str:
    return "".join(await collect(llm, messages))


async def converse(llm: OfflineLLM, turns: list[str]) -> list[str]:
    """Run a conversation, feeding each reply back as history; return the replies."""
    history: list[dict] = [{"role": "system", "content": "You are a helpful voicebot."}]
    replies = []
    for turn in turns:
        history.append(user(turn))
        reply = await answer(llm, history)
        history.append({"role": "assistant", "content": reply})
        replies.append(reply)
    return replies


def test_implements_protocol_and_label() -> None:
    assert isinstance(OfflineLLM(), LLM)
    assert OfflineLLM.label == "Rule-based responder (built-in, deterministic)"


@pytest.mark.asyncio
async def test_streams_several_word_deltas() -> None:
    llm = OfflineLLM(seed=1)
    messages = [user("I am worried about my exams next week")]
    deltas = await collect(llm, messages)
    assert len(deltas) >= 4
    assert all(deltas) and all(not d[0].isspace() for d in deltas)
    assert all(re.fullmatch(r"\S+\s*", d) for d in deltas)
    full = "".join(deltas)
    assert full == llm.reply(messages)
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", full)) <= 4


@pytest.mark.asyncio
async def test_pronoun_reflection() -> None:
    for seed in range(5):
        reply = await answer(OfflineLLM(seed=seed), [user("I am sad about my job")])
        assert "sad about your job" in reply
        assert " my " not in reply and "I am sad" not in reply
    reply = await answer(OfflineLLM(seed=0), [user("Can you help me with my homework?")])
    assert "help you with your homework" in reply


def test_reflect_swaps_persons() -> None:
    assert reflect("I am sad about my job") == "you are sad about your job"
    assert reflect("you are nicer than me") == "I am nicer than you"
    assert reflect("I was angry at you") == "you were angry at me"
    assert reflect("my mother thinks you know Paris") == "your mother thinks I know Paris"


@pytest.mark.asyncio
async def test_remembers_name_across_history() -> None:
    replies = await converse(OfflineLLM(seed=3), [
        "hello", "my name is alice", "I feel tired", "what's my name?", "goodbye"])
    assert "Alice" in replies[1]
    assert "Alice" in replies[3]
    assert "Alice" in replies[4]


@pytest.mark.asyncio
async def test_does_not_know_name_when_not_told() -> None:
    reply = await answer(OfflineLLM(), [user("What is my name?")])
    assert "haven't told me" in reply or "don't know" in reply


@pytest.mark.asyncio
@pytest.mark.parametrize(("question", "result"), [
    ("What is 12 times 7?", "84"),
    ("what's twelve times seven", "84"),
    ("How much is 1,000 divided by 8", "125"),
    ("calculate 3 + 4 * 2", "11"),
    ("what is 2 to the power of 10", "1024"),
    ("what is one hundred and five minus 6", "99"),
    ("what is the square root of 144", "12"),
    ("what is 10 divided by 4", "2.5"),
    ("what is 0.1 plus 0.2", "0.3"),
])
async def test_arithmetic(question: str, result: str) -> None:
    reply = await answer(OfflineLLM(seed=0), [user(question)])
    assert re.search(rf"(?<![\d.]){re.escape(result)}\.$", reply), reply


@pytest.mark.asyncio
async def test_arithmetic_division_by_zero() -> None:
    reply = await answer(OfflineLLM(), [user("what is 5 divided by 0")])
    assert "zero" in reply


@pytest.mark.asyncio
async def test_real_local_time() -> None:
    before = datetime.now()
    reply = await answer(OfflineLLM(), [user("What time is it?")])
    after = datetime.now()
    m = re.search(r"(\d{1,2}):(\d\d) (AM|PM)", reply)
    assert m, reply
    stamps = {f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"
              for t in (before, after, before + timedelta(minutes=1))}
    assert m.group(0) in stamps


@pytest.mark.asyncio
async def test_about_itself() -> None:
    reply = await answer(OfflineLLM(), [user("Who are you?")])
    assert SELF_DESCRIPTION in reply


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_empty_input_asks_again(text: str) -> None:
    reply = await answer(OfflineLLM(), [user(text)])
    assert "catch" in reply or "hear" in reply


@pytest.mark.asyncio
async def test_missing_user_message_greets() -> None:
    for messages in ([], [{"role": "system", "content": "Be brief."}]):
        reply = await answer(OfflineLLM(), messages)
        assert reply.startswith(("Hello", "Hi"))


@pytest.mark.asyncio
@pytest.mark.parametrize("turn", ["hmm", "What is 12 times 7?", "thanks", "who are you",
                                  "I am sad", "", "what time is it"])
async def test_no_identical_consecutive_replies(turn: str) -> None:
    replies = await converse(OfflineLLM(seed=7), [turn] * 6)
    assert all(a != b for a, b in itertools.pairwise(replies)), replies


@pytest.mark.asyncio
async def test_deterministic_for_seed_and_input() -> None:
    messages = [user("I think nobody listens to me")]
    assert await answer(OfflineLLM(seed=5), messages) == await answer(
        OfflineLLM(seed=5), messages)
    assert await answer(OfflineLLM(), messages) == await answer(OfflineLLM(), messages)


@pytest.mark.asyncio
async def test_refers_back_to_earlier_topic() -> None:
    turns = ["My job has been really stressful lately", "hmm", "ok", "I see", "right"]
    mentions = 0
    for seed in range(10):
        replies = await converse(OfflineLLM(seed=seed), turns)
        mentions += any("your job" in r for r in replies[1:])
    assert mentions >= 3


@pytest.mark.asyncio
async def test_greeting_prefix_and_keyword_ranks() -> None:
    llm = OfflineLLM(seed=2)
    assert (await answer(llm, [user("Hi! What is 6 times 7?")])).startswith("Hello.")
    assert "42" in await answer(llm, [user("Hi! What is 6 times 7?")])
    reply = await answer(llm, [user("thank you so much")])
    assert any(w in reply for w in ("welcome", "Happy to help", "Any time"))


@pytest.mark.asyncio
async def test_token_delay_is_applied() -> None:
    llm = OfflineLLM(token_delay_ms=5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deltas = await collect(llm, [user("hello there")])
    assert loop.time() - start >= 0.005 * len(deltas) * 0.8


@pytest.mark.asyncio
async def test_stream_is_cancellable() -> None:
    llm = OfflineLLM(token_delay_ms=50)
    agen = llm.stream([user("I am sad about my job and my family")])
    received: list[str] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for delta in agen:
            received.append(delta)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert 1 <= len(received) < len(_words(llm))
    assert agen.ag_frame is None  # the generator finished; nothing left suspended
    assert asyncio.all_tasks() == {asyncio.current_task()}


def _words(llm: OfflineLLM) -> list[str]:
    return llm.reply([user("I am sad about my job and my family")]).split()


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["What happened in 2020-2021?", "I have 2 kids - 5 and 7"])
async def test_numbers_in_ordinary_talk_are_not_sums(text: str) -> None:
    reply = await answer(OfflineLLM(seed=0), [user(text)])
    assert not re.search(r"\d", reply), reply
