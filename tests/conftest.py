"""Shared fixtures: a WebSocket client for the real ASGI application."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from channels.testing import WebsocketCommunicator

HEADERS = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
# Seconds a test waits for a handshake or a reply: Channels' default of 1 s is too short
# for a process's first ones, which compete with its models loading (the warm-up).
REPLY_TIMEOUT = 10


class Client:
    """A protocol-level client over ``WebsocketCommunicator``: JSON events and audio."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.events: list[dict] = []
        self.audio = bytearray()
        self.closed = False

    async def disconnect(self) -> None:
        self.closed = True
        await self.communicator.disconnect(timeout=REPLY_TIMEOUT)

    async def send(self, **message: object) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout: float = REPLY_TIMEOUT) -> dict:
        """The next frame: a JSON event, or ``{"type": "audio", "bytes": n}`` for audio."""
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        if output.get("bytes") is not None:
            self.audio += output["bytes"]
            event = {"type": "audio", "bytes": len(output["bytes"])}
        else:
            event = json.loads(output["text"])
        self.events.append(event)
        return event

    async def drain(self, wait: float = 0.05) -> None:
        """Receive whatever arrives within ``wait`` (without timing out the app)."""
        while not await self.communicator.receive_nothing(timeout=wait):
            await self.receive()

    async def receive_until(self, kind: str, timeout: float = 20) -> dict:
        while (event := await self.receive(timeout))["type"] != kind:
            pass
        return event

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first(self, kind: str) -> int:
        return self.kinds().index(kind)

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]


@pytest.fixture
async def ws_client() -> AsyncIterator:
    """Open clients on an endpoint path; all are closed at the end."""
    from voicebot_site.asgi import application

    opened: list[Client] = []

    async def connect(path: str = "/api/tts/ws") -> Client:
        communicator = WebsocketCommunicator(application, path, headers=HEADERS)
        connected, _ = await communicator.connect(timeout=REPLY_TIMEOUT)
        assert connected
        opened.append(Client(communicator))
        return opened[-1]

    yield connect
    for client in opened:
        if not client.closed:
            await client.disconnect()
