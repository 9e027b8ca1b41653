"""The TTS endpoint: whole text in ``start``, or text deltas followed by ``end``."""
from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from streaming.consumers import ProtocolError, StreamingConsumer, get_field
from streaming.engine import TextInput, text_once


class TTSConsumer(StreamingConsumer, AsyncWebsocketConsumer):
    """``/api/tts/ws``: speaks the text a client sends, while it is still arriving."""

    kind = "tts"

    async def on_start(self, msg: dict) -> None:
        """Begin a stream, with the whole text or with text to follow."""
        text = get_field(msg, "text", str, required=False)
        tts = get_field(msg, "tts", str, required=False)
        voice = get_field(msg, "voice", str, required=False)
        if text is None:
            self.admit_stream()
            text_input = TextInput(settings.STREAMING["INPUT_IDLE_TIMEOUT_S"])
            await self.start_stream(text_input, tts_alias=tts, voice=voice,
                                    text_input=text_input)
            return
        if not text.strip():
            raise ProtocolError("empty_text", "there is no text to speak")
        self.check_text_length(len(text))
        self.admit_stream()
        await self.start_stream(text_once(text), tts_alias=tts, voice=voice)

    async def on_text(self, msg: dict) -> None:
        """More input text for the running stream."""
        delta = get_field(msg, "delta", str)
        text_input = self.open_input()
        self.check_text_length(text_input.chars + len(delta))
        text_input.push(delta)

    async def on_end(self, msg: dict) -> None:
        """No more input text: the rest is flushed and spoken."""
        self.open_input().close()

    def open_input(self) -> TextInput:
        """The running stream's text input, if it still takes text."""
        stream = self.stream
        if stream is None or stream.input is None:
            raise ProtocolError("no_stream", 'send {"type": "start"} without text first')
        if stream.input.closed:
            raise ProtocolError("input_closed", "the stream's input has ended")
        return stream.input
