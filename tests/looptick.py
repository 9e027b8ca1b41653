"""Counting event-loop turns: proof that work ran beside the loop, not on it."""
from __future__ import annotations

import asyncio
from collections.abc import Callable


class LoopTicks:
    """While entered, a task counts the loop's turns (and calls ``on_tick`` at each)."""

    def __init__(self, on_tick: Callable[[], None] | None = None) -> None:
        self.count = 0
        self._on_tick = on_tick
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()

    async def _tick(self) -> None:
        while True:
            self.count += 1
            if self._on_tick is not None:
                self._on_tick()
            await asyncio.sleep(0)
