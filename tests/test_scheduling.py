"""The deadline pool of local engines: order, preemption between steps, cancel, failures."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from streaming.scheduling import DeadlinePool

WAIT_S = 10


class Gate:
    """A job that holds the pool's one worker until the test opens it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def steps(self) -> Iterator[str]:
        self.entered.set()
        assert self.opened.wait(WAIT_S)
        yield "gate"


class Log:
    """What the jobs did, in order, from the worker thread."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.delivered: list[object] = []
        self.closed: list[str] = []

    def job(self, name: str, steps: int = 1) -> Iterator[str]:
        try:
            for n in range(1, steps + 1):
                self.steps.append(f"{name}{n}")
                yield f"{name}{n}"
        finally:
            self.closed.append(name)

    def deliver(self, item: object) -> None:
        self.delivered.append(item)


def held_pool(policy: str = "deadline") -> tuple[DeadlinePool, Gate]:
    pool = DeadlinePool(1, policy=policy, name=f"test-{policy}")
    gate = Gate()
    pool.submit(gate.steps(), lambda item: None, deadline=0.0)
    assert gate.entered.wait(WAIT_S)
    return pool, gate


def test_deadline_policy_serves_the_earliest_deadline_first() -> None:
    pool, gate = held_pool("deadline")
    log = Log()
    for name, deadline in (("late", 30.0), ("first", 10.0), ("middle", 20.0)):
        pool.submit(log.job(name), log.deliver, deadline=deadline)

    gate.opened.set()
    assert pool.wait_idle(WAIT_S)

    assert log.steps == ["first1", "middle1", "late1"]


def test_fifo_policy_serves_jobs_in_the_order_they_came() -> None:
    pool, gate = held_pool("fifo")
    log = Log()
    for name, deadline in (("late", 30.0), ("first", 10.0), ("middle", 20.0)):
        pool.submit(log.job(name), log.deliver, deadline=deadline)

    gate.opened.set()
    assert pool.wait_idle(WAIT_S)

    assert log.steps == ["late1", "first1", "middle1"]


def test_an_urgent_job_runs_between_the_steps_of_a_relaxed_one() -> None:
    pool = DeadlinePool(1, name="test-preempt")
    log = Log()
    step_one_running, release = threading.Event(), threading.Event()

    def relaxed() -> Iterator[str]:
        log.steps.append("relaxed1")
        step_one_running.set()
        assert release.wait(WAIT_S)
        yield "relaxed1"
        log.steps.append("relaxed2")
        yield "relaxed2"

    pool.submit(relaxed(), log.deliver, deadline=50.0)
    assert step_one_running.wait(WAIT_S)
    pool.submit(log.job("urgent"), log.deliver, deadline=1.0)
    release.set()
    assert pool.wait_idle(WAIT_S)

    assert log.steps == ["relaxed1", "urgent1", "relaxed2"]
    assert log.delivered.count(DeadlinePool.DONE) == 2


def test_with_every_worker_busy_a_due_job_runs_at_once_on_the_urgent_worker() -> None:
    pool = DeadlinePool(1, name="test-urgent", urgent_workers=1)
    gate = Gate()
    pool.submit(gate.steps(), lambda item: None, deadline=0.0)
    assert gate.entered.wait(WAIT_S)  # the one regular worker is held
    ran: dict[str, float] = {}
    done = {name: threading.Event() for name in ("due", "soon")}

    def job(name: str) -> Iterator[str]:
        ran[name] = time.monotonic()
        yield name

    def deliver(name: str) -> Callable[[object], None]:
        return lambda item: item is DeadlinePool.DONE and done[name].set()

    soon = time.monotonic() + 0.2
    pool.submit(job("soon"), deliver("soon"), deadline=soon)
    pool.submit(job("due"), deliver("due"), deadline=0.0)
    assert done["due"].wait(WAIT_S) and done["soon"].wait(WAIT_S)
    gate.opened.set()
    assert pool.wait_idle(WAIT_S)

    assert ran["due"] < ran["soon"]  # the due one first, while the worker was still held
    assert ran["soon"] >= soon  # and a job not yet due only once it was


def test_urgent_workers_belong_to_the_deadline_policy() -> None:
    assert DeadlinePool(1, policy="fifo", urgent_workers=1).urgent_workers == 0
    with pytest.raises(ValueError, match="urgent_workers cannot be negative"):
        DeadlinePool(1, urgent_workers=-1)


def test_a_cancelled_queued_job_leaves_the_queue_and_never_runs() -> None:
    pool, gate = held_pool()
    log = Log()
    job = pool.submit(log.job("dropped"), log.deliver)
    kept = pool.submit(log.job("kept"), log.deliver)
    assert pool.queued == 2

    job.cancel()

    assert pool.queued == 1
    gate.opened.set()
    assert pool.wait_idle(WAIT_S)
    assert log.steps == ["kept1"]
    assert log.delivered == ["kept1", DeadlinePool.DONE]
    assert not kept.cancelled


def test_a_job_cancelled_while_running_stops_after_its_step_and_is_closed() -> None:
    pool = DeadlinePool(1, name="test-cancel-running")
    log = Log()
    running, release = threading.Event(), threading.Event()

    def long_job() -> Iterator[str]:
        try:
            for n in range(1, 6):
                log.steps.append(f"long{n}")
                running.set()
                assert release.wait(WAIT_S)
                yield f"long{n}"
        finally:
            log.closed.append("long")

    job = pool.submit(long_job(), log.deliver)
    assert running.wait(WAIT_S)

    job.cancel()
    release.set()
    assert pool.wait_idle(WAIT_S)

    assert log.steps == ["long1"]  # the step under way finished; no other one ran
    assert log.delivered == []  # and its owner, gone, got nothing
    assert log.closed == ["long"]


def test_a_failing_step_delivers_the_error_then_done_and_the_worker_goes_on() -> None:
    pool = DeadlinePool(1, name="test-failure")
    log = Log()

    def broken() -> Iterator[str]:
        raise RuntimeError("engine broke")
        yield "never"

    pool.submit(broken(), log.deliver)
    pool.submit(log.job("after"), log.deliver)
    assert pool.wait_idle(WAIT_S)

    error, done, *rest = log.delivered
    assert isinstance(error, RuntimeError) and str(error) == "engine broke"
    assert done is DeadlinePool.DONE and rest == ["after1", DeadlinePool.DONE]


def test_an_owner_that_cannot_take_results_drops_its_job_not_the_worker() -> None:
    pool = DeadlinePool(1, name="test-owner-gone")
    log = Log()

    def gone(item: object) -> None:
        raise RuntimeError("Event loop is closed")

    pool.submit(log.job("orphan", steps=3), gone)
    pool.submit(log.job("next"), log.deliver)
    assert pool.wait_idle(WAIT_S)

    assert log.steps == ["orphan1", "next1"] and "orphan" in log.closed


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        DeadlinePool(0)
    with pytest.raises(ValueError, match="unknown scheduling policy 'lifo'"):
        DeadlinePool(1, policy="lifo")
