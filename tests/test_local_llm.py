"""The local llama.cpp LLM with the real SmolLM2-135M model: streaming, the GGUF chat template,
one generation at a time per model, cancellation within a token, and the event loop kept free.

Most tests share the process's default engine (the model loads once); the ones about loading,
trimming and closing use their own context size, hence their own engine.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured

from streaming.protocols import LLM, ProviderError, stream_marker
from tests.looptick import LoopTicks
from voicebot.providers.local_llm import (
    CANCELLED,
    DROPPED,
    LocalLLM,
)

STORY = [{"role": "user", "content": "Tell me a long story about a dragon and a brave knight."}]
HELLO = [{"role": "user", "content": "Hello! How are you today?"}]


def recorder(log: list, tag: str, on_mark: Callable[[str], None] | None = None) -> Callable:
    """A stand-in for ``Timeline.mark`` that logs ``(tag, name, monotonic time)``."""

    def mark(name: str, index: int | None = None, **data: object) -> float:
        now = time.monotonic()
        log.append((tag, name, now))
        if on_mark is not None:
            on_mark(name)
        return now

    return mark


async def test_answer_streams_in_several_deltas_and_max_tokens_caps_the_tokens() -> None:
    llm = LocalLLM(max_tokens=12)
    assert isinstance(llm, LLM)

    deltas = [delta async for delta in llm.stream(STORY)]

    record = llm.generations[-1]
    assert len(deltas) > 1 and all(deltas)  # streamed, and no empty deltas
    assert record.finish_reason == "length"  # the story was cut by max_tokens...
    assert len(deltas) <= record.tokens <= 12  # ...after at most 12 tokens
    assert "<|im_" not in "".join(deltas)


async def test_prompt_is_built_with_the_gguf_chat_template_and_its_default_system_prompt() -> None:
    # SmolLM2's GGUF template opens a conversation that has no system message with
    # "You are a helpful AI assistant named SmolLM, trained by Hugging Face": the model can
    # only know its name from there. (With llama-cpp-python's generic "chatml" format, which
    # has no such system turn, the same greedy answer introduces a "creative AI assistant".)
    llm = LocalLLM(temperature=0.0, max_tokens=24)

    answer = "".join([d async for d in llm.stream([
        {"role": "user", "content": "Introduce yourself."}])])

    assert "SmolLM" in answer
    assert "<|im_start|>" not in answer and "<|im_end|>" not in answer


async def test_concurrent_streams_run_one_after_the_other_and_the_second_waits_in_the_queue(
) -> None:
    llm = LocalLLM(max_tokens=24)
    log: list[tuple[str, str, float]] = []
    first_delta = asyncio.Event()

    async def consume(tag: str) -> None:
        stream_marker.set(recorder(log, tag))  # this task's own context
        async for _ in llm.stream(STORY):
            log.append((tag, "delta", time.monotonic()))
            first_delta.set()

    first = asyncio.create_task(consume("A"))
    await first_delta.wait()  # A is generating
    second = asyncio.create_task(consume("B"))
    await asyncio.gather(first, second)

    record_a, record_b = llm.generations
    # Worker side: B was queued while A ran, and started only once A had finished.
    assert record_b.queued_at < record_a.finished_at <= record_b.started_at
    # Loop side: B's queue wait (llm_queued -> llm_started) spans the end of A's answer.
    at = {(tag, name): t for tag, name, t in log if name != "delta"}
    last_a_delta = max(t for tag, name, t in log if (tag, name) == ("A", "delta"))
    assert at["B", "llm_queued"] < last_a_delta <= at["B", "llm_started"]
    assert [name for tag, name, _ in log if tag == "B"][:2] == ["llm_queued", "llm_started"]


@pytest.mark.parametrize("how", ["aclose", "cancel_task"])
async def test_cancel_after_the_first_delta_stops_within_one_token_and_frees_the_worker(
    how: str,
) -> None:
    llm = LocalLLM(max_tokens=200)
    if how == "aclose":
        answer = llm.stream(STORY)
        await anext(answer)
        await answer.aclose()
    else:
        got_delta = asyncio.Event()

        async def consume() -> None:
            async for _ in llm.stream(STORY):
                got_delta.set()

        task = asyncio.create_task(consume())
        await got_delta.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    cancelled = llm.generations[-1]
    assert cancelled.tokens_at_cancel is not None  # cancelled while it was generating

    following = [d async for d in llm.stream(HELLO)]  # queued behind the cancelled one

    after = llm.generations[-1]
    assert cancelled.finish_reason == CANCELLED
    assert cancelled.tokens - cancelled.tokens_at_cancel <= 1  # at most the token in hand
    assert cancelled.tokens < 200
    assert following and after.started_at >= cancelled.finished_at


async def test_a_request_cancelled_while_queued_never_runs() -> None:
    llm = LocalLLM(max_tokens=200)
    running = llm.stream(STORY)
    await anext(running)  # the worker is busy with this one
    marks: list[tuple[str, str, float]] = []
    queued = asyncio.Event()

    async def consume_queued() -> None:
        stream_marker.set(recorder(marks, "B", lambda name: queued.set()))
        async for _ in llm.stream(HELLO):
            pass

    task = asyncio.create_task(consume_queued())
    await queued.wait()
    record_a, record_b = llm.generations
    assert not record_a.finished  # B really is waiting behind A
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await running.aclose()

    assert [d async for d in llm.stream(HELLO)]  # the worker got past A and B to this one

    assert record_b.finish_reason == DROPPED
    assert record_b.started_at is None and record_b.tokens == 0
    assert [name for _, name, _ in marks] == ["llm_queued"]


async def test_the_event_loop_keeps_running_while_tokens_are_computed() -> None:
    llm = LocalLLM(max_tokens=24)
    samples: list[tuple[int, bool]] = []  # (tokens so far, finished) at each loop tick

    def sample() -> None:
        if llm.generations:
            record = llm.generations[-1]
            samples.append((record.tokens, record.finished))

    async with LoopTicks(sample) as ticks:
        ticks_at_delta = [ticks.count async for _ in llm.stream(STORY)]

    assert ticks_at_delta[0] > 1  # the loop ran while the prompt was evaluated
    # The loop ticked more than once while the same token was being sampled, after the
    # first token: generation runs beside the loop, not between its steps.
    during = Counter(tokens for tokens, finished in samples if not finished)
    assert any(count >= 2 for tokens, count in during.items() if tokens >= 1)
    assert len(ticks_at_delta) > 1


async def test_a_missing_model_file_is_improperly_configured_naming_the_path() -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape("/nonexistent/model.gguf")):
        LocalLLM(model_path="/nonexistent/model.gguf")


async def test_a_file_that_is_not_a_model_gives_a_provider_error_and_a_load_error(
    tmp_path,
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF model")
    llm = LocalLLM(model_path=str(broken))
    llm.warm_up()

    with pytest.raises(ProviderError, match=re.escape("broken.gguf")):
        async for _ in llm.stream(HELLO):
            pass

    assert "broken.gguf" in llm.load_error  # the warm-up failed before the request
    assert not llm.ready
    llm.close()


async def test_warm_up_returns_at_once_and_ready_is_true_before_the_next_request_starts(
) -> None:
    llm = LocalLLM(n_ctx=1024)  # its own engine: nothing is loaded yet
    assert llm.label == "SmolLM2-135M-Instruct (local, llama.cpp)"
    llm.warm_up()
    assert not llm.ready and llm.load_error == ""  # loading goes on in the worker
    ready_at_mark: dict[str, bool] = {}
    token = stream_marker.set(lambda name, *a, **k: ready_at_mark.setdefault(name, llm.ready))
    try:
        answer = [d async for d in llm.stream(HELLO)]
    finally:
        stream_marker.reset(token)

    assert answer
    # Queued behind the warm-up, the request started only after the model was ready.
    assert ready_at_mark == {"llm_queued": False, "llm_started": True}
    llm.close()


async def test_a_long_history_is_trimmed_to_fit_the_context_keeping_the_system_prompt() -> None:
    llm = LocalLLM(n_ctx=512, max_tokens=16, system_prompt="Reply in one short sentence.")
    turn = "Please tell me again about the weather in the mountains in the spring time. " * 2
    history = [{"role": "system", "content": "ignored: replaced by the adapter's prompt"}]
    for _ in range(20):
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": turn}]
    history.append({"role": "user", "content": "And what about the sea?"})

    answer = [d async for d in llm.stream(history)]

    record = llm.generations[-1]
    assert answer and record.finish_reason in {"stop", "length"}
    assert 2 < record.prompt_messages < len(history)  # system + the most recent turns
    llm.close()


async def test_a_generation_failure_names_an_error_id_not_the_engine_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from voicebot.providers import local_llm

    def broken(self: object, llm: object, job: object) -> str:
        raise ValueError("/srv/secret/internal-detail")

    monkeypatch.setattr(local_llm._Engine, "_generate", broken)
    with pytest.raises(ProviderError, match=r"generation failed \(error [0-9a-f]{8} ") as err:
        async for _ in LocalLLM().stream(HELLO):
            pass
    assert "internal-detail" not in str(err.value)


async def test_close_ends_a_running_answer_with_a_provider_error() -> None:
    llm = LocalLLM(n_ctx=768, max_tokens=200)
    answer = llm.stream(STORY)
    await anext(answer)

    llm.close()

    with pytest.raises(ProviderError, match="cancelled"):
        async for _ in answer:
            pass
    record = llm.generations[-1]
    assert record.finish_reason == CANCELLED and record.tokens < 200
