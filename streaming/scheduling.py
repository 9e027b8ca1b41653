"""Scheduling of CPU-bound local engines: worker threads that serve the most urgent job first.

A stream's engine says, for each TTS request, when its listener will need that audio
(``need_by``, a ``time.monotonic()`` deadline in a context variable, so the one-method
TTS protocol stays as it is). A local engine (Piper today) submits its work to a shared
:class:`DeadlinePool` as a *job*: an iterator whose every step is one unit of CPU work
(a sentence), handed over as soon as it is done. Between two steps a job goes back to the
queue, so a stream's first segment or a stream about to run dry never waits behind more
than one sentence of a stream that has seconds of audio buffered.

``policy="deadline"`` serves the earliest deadline first; ``policy="fifo"`` serves jobs in
the order they were submitted (the design before this one, kept for comparison).

With deadlines, ``urgent_workers`` more threads take a job only when every regular worker
is busy and the job is due (its listener needs the audio now: a stream's first segment, or
one about to run dry). Such a job then starts at once instead of waiting for a worker's
sentence to end; meanwhile the cores are shared by one thread more than usual.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

POLICIES = ("deadline", "fifo")

need_by: ContextVar[float | None] = ContextVar("need_by", default=None)
"""When the listener needs the audio being requested (``time.monotonic()`` seconds)."""


class Job:
    """One submitted piece of work; ``cancel()`` drops it wherever it is."""

    __slots__ = ("_pool", "cancelled", "deadline", "deliver", "key", "steps", "submitted")

    def __init__(self, pool: DeadlinePool, steps: Iterator, deliver: Callable[[object], None],
                 deadline: float, key: tuple) -> None:
        self._pool = pool
        self.steps = steps
        self.deliver = deliver
        self.deadline = deadline
        self.key = key
        self.submitted = time.monotonic()
        self.cancelled = False

    def __lt__(self, other: Job) -> bool:
        return self.key < other.key

    def cancel(self) -> None:
        """Nobody wants the result any more: leave the queue now, or stop after this step."""
        self._pool._cancel(self)


class DeadlinePool:
    """Worker threads running jobs step by step, most urgent first (or first come first).

    ``submit(steps, deliver, deadline=...)`` queues a job; a worker takes the job with the
    smallest key, runs one ``next(steps)`` and passes the item to ``deliver`` (from the
    worker thread), then puts the job back. When the iterator ends, ``deliver(DONE)``; when
    it raises, ``deliver(exception)`` then ``deliver(DONE)``. A cancelled job is removed from
    the queue, or (if a worker is running its step) closed after that step; either way it
    gets no further ``deliver`` call. Threads start on the first submit.
    """

    DONE = object()

    def __init__(self, workers: int, *, policy: str = "deadline", name: str = "engine",
                 urgent_workers: int = 0) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        if urgent_workers < 0:
            raise ValueError("urgent_workers cannot be negative")
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {policy!r} (known: {', '.join(POLICIES)})")
        self.workers = workers
        self.urgent_workers = urgent_workers if policy == "deadline" else 0
        self.policy = policy
        self.name = name
        self._queue: list[Job] = []
        self._running: set[Job] = set()
        self._regular_busy = 0  # regular workers running a step
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker."""
        with self._cond:
            return len(self._queue)

    @property
    def running(self) -> int:
        """Jobs whose step a worker is running now."""
        with self._cond:
            return len(self._running)

    def submit(self, steps: Iterator, deliver: Callable[[object], None], *,
               deadline: float | None = None) -> Job:
        """Queue a job; ``deadline`` defaults to now (as urgent as anything due now)."""
        due = time.monotonic() if deadline is None else deadline
        order = next(self._order)
        key = (due, order) if self.policy == "deadline" else (order,)
        job = Job(self, steps, deliver, due, key)
        with self._cond:
            self._start_threads()
            heapq.heappush(self._queue, job)
            self._cond.notify_all()  # a regular worker, or the urgent one if all are busy
        return job

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (tests, warm-up); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._running, timeout)

    def _start_threads(self) -> None:
        while len(self._threads) < self.workers + self.urgent_workers:
            urgent = len(self._threads) >= self.workers
            thread = threading.Thread(target=self._work, args=(urgent,), daemon=True,
                                      name=f"{self.name}-{'urgent-' if urgent else ''}"
                                           f"{len(self._threads)}")
            self._threads.append(thread)
            thread.start()

    def _cancel(self, job: Job) -> None:
        with self._cond:
            job.cancelled = True
            if job in self._queue:
                self._queue.remove(job)
                heapq.heapify(self._queue)
                self._cond.notify_all()
                _close(job)

    def _urgent_job_waits(self) -> bool:
        """Every regular worker is busy and the most urgent job is due."""
        return (self._regular_busy >= self.workers and bool(self._queue)
                and self._queue[0].deadline <= time.monotonic())

    def _wait_for_urgent_job(self) -> None:
        """(Holding the lock) until a due job waits for busy workers; a job not yet due
        is looked at again when it will be."""
        while not self._urgent_job_waits():
            head = self._queue[0].deadline if self._queue else None
            due_in = head - time.monotonic() if head is not None else None
            self._cond.wait(due_in if due_in is not None and due_in > 0 else None)

    def _work(self, urgent: bool = False) -> None:
        while True:
            with self._cond:
                if urgent:
                    self._wait_for_urgent_job()
                else:
                    self._cond.wait_for(lambda: self._queue)
                    self._regular_busy += 1
                    self._cond.notify_all()  # all busy now? the urgent worker looks again
                job = heapq.heappop(self._queue)
                self._running.add(job)
            finished = self._step(job)
            with self._cond:
                if not urgent:
                    self._regular_busy -= 1
                self._running.discard(job)
                if job.cancelled or finished:
                    if job.cancelled:
                        _close(job)
                else:
                    heapq.heappush(self._queue, job)
                self._cond.notify_all()

    def _step(self, job: Job) -> bool:
        """Run one step of ``job``; True when it has ended (or was cancelled meanwhile)."""
        if job.cancelled:
            return True
        try:
            item = next(job.steps)
        except StopIteration:
            items = [self.DONE]
        except Exception as exc:  # handed to the job's owner as its error
            items = [exc, self.DONE]
        else:
            items = [item]
        if job.cancelled:
            return True
        try:
            for each in items:
                job.deliver(each)
        except Exception:  # its owner is gone (e.g. its event loop closed): drop the job
            job.cancelled = True
            return True
        return items[-1] is self.DONE


def _close(job: Job) -> None:
    """Let a dropped job's iterator release what it holds (its ``finally`` blocks)."""
    close = getattr(job.steps, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # a generator failing in its own cleanup: nothing left to do
            pass
