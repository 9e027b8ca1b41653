"""The channel layer the settings choose: Redis when REDIS_URL is set, else in-memory."""
from __future__ import annotations

import asyncio
import os

import pytest
from channels.layers import get_channel_layer


def test_the_layer_follows_redis_url() -> None:
    layer = get_channel_layer()
    expected = "RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert type(layer).__name__ == expected


async def test_a_receiver_outlives_an_idle_spell_longer_than_the_socket_timeout() -> None:
    """A consumer idle for over 5 s (redis-py 8's default read timeout) still receives."""
    layer = get_channel_layer()
    channel = await layer.new_channel()

    async def send_later() -> None:
        await asyncio.sleep(6)
        await layer.send(channel, {"type": "ping", "n": 1})

    sender = asyncio.create_task(send_later())
    try:
        message = await asyncio.wait_for(layer.receive(channel), timeout=30)
    finally:
        await sender
    assert message == {"type": "ping", "n": 1}
    if os.environ.get("REDIS_URL"):
        await layer.flush()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
async def test_groups_reach_every_member_over_redis() -> None:
    layer = get_channel_layer()
    first, second = await layer.new_channel(), await layer.new_channel()
    for channel in (first, second):
        await layer.group_add("monitor-test", channel)
    await layer.group_send("monitor-test", {"type": "hello"})
    assert await layer.receive(first) == {"type": "hello"}
    assert await layer.receive(second) == {"type": "hello"}
    await layer.flush()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
async def test_three_hundred_simultaneous_joins_all_succeed_over_redis() -> None:
    """What 300 simultaneous handshakes do to the layer: each joins a group at once."""
    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in range(300)]

    joined = await asyncio.gather(*(layer.group_add("burst-test", c) for c in channels),
                                  return_exceptions=True)

    assert [r for r in joined if isinstance(r, Exception)] == []
    await layer.flush()
