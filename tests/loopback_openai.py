"""A loopback HTTP/1.1 server speaking the OpenAI wire formats, for adapter tests.

This module owns ``LoopbackOpenAI``: an asyncio (stdlib-only) server on 127.0.0.1 that
answers ``POST /v1/chat/completions`` (streamed as server-sent events, chunked transfer
encoding, properly terminated), ``POST /v1/audio/transcriptions`` (multipart upload,
JSON answer) and ``POST /v1/audio/speech`` (raw 24 kHz PCM from ``speech_pcm``, streamed
in deliberately odd-sized chunks), so the real ``openai`` SDK can be exercised end to end.
Behaviours are plain attributes a test sets before (or between) requests; every request is
recorded.

    async with LoopbackOpenAI(tokens=["Hel", "lo"]) as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-test")
        ...
        assert server.requests[0].json["stream"] is True
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import struct
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

CHAT_PATH = "/v1/chat/completions"
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
SPEECH_PATH = "/v1/audio/speech"
SPEECH_SAMPLE_RATE = 24000  # OpenAI's "pcm" response format: 24 kHz s16le mono
MS_PER_CHARACTER = 12  # how much audio the fake speaks per input character


def speech_pcm(text: str, sample_rate: int = SPEECH_SAMPLE_RATE) -> bytes:
    """Deterministic "speech" for a text: a short tone per character (pitch from the
    character), so the length is proportional to the text and every text sounds different.
    """
    per_char = max(1, sample_rate * MS_PER_CHARACTER // 1000)
    samples: list[int] = []
    for char in text:
        freq = 200 + (ord(char) % 64) * 15
        step = 2 * math.pi * freq / sample_rate
        samples.extend(int(9000 * math.sin(step * i)) for i in range(per_char))
    return struct.pack(f"<{len(samples)}h", *samples)


@dataclass
class UploadedFile:
    """One file part of a multipart/form-data request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """What the client sent: parsed enough for tests to assert on."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any = None  # parsed JSON body, if the body was JSON
    form: dict[str, str] = field(default_factory=dict)  # multipart text fields
    files: dict[str, UploadedFile] = field(default_factory=dict)  # multipart file parts
    connection: int = 0  # which TCP connection carried it (1, 2, ...): shows keep-alive reuse


@dataclass
class LoopbackOpenAI:
    """Fake OpenAI endpoint; use as ``async with LoopbackOpenAI(...) as server``.

    Behaviours (checked per request, in this order): ``stall`` accepts the request and
    never answers; ``status`` answers every request with that HTTP error and an
    OpenAI-style error body; otherwise chat streams ``tokens`` (``token_delay`` seconds
    apart, each first waiting for an item on ``gate`` if set, an ``"error"`` event after
    ``error_after`` tokens if set, else a finish chunk and a usage chunk),
    transcription answers ``{"text": transcript}``, and speech streams ``speech_pcm(input)``
    in HTTP chunks of ``speech_chunk_bytes`` (odd by default, so chunks split samples),
    closing the connection mid-body after ``speech_drop_after`` bytes if that is set, or
    going silent (without ending the body) after ``speech_stall_after`` bytes.
    """

    tokens: list[str] = field(default_factory=lambda: ["Hel", "lo", ",", " world", "!"])
    token_delay: float = 0.0
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    )
    error_after: int | None = None
    error_message: str = "The server had an error while processing your request."
    status: int | None = None
    status_message: str = "Incorrect API key provided."
    stall: bool = False
    transcript: str = "  what time is it  "
    gate: asyncio.Queue | None = None  # if set, each token waits for one item from it
    sent_tokens: int = 0  # content tokens written so far (all requests)
    speech_chunk_bytes: int = 1001  # odd on purpose: chunk boundaries split samples
    speech_drop_after: int | None = None  # close the connection after this many audio bytes
    speech_stall_after: int | None = None  # stop sending (body open) after this many bytes
    sent_speech: bytearray = field(default_factory=bytearray)  # audio written (all requests)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Prepare the (not yet started) server state."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()
        self._connections = 0
        self.port = 0

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the SDK (includes ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> Self:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve_connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop listening and drop every open (or stalled) connection."""
        assert self._server is not None
        self._server.close()
        self._closing.set()  # releases stalled handlers
        for writer in list(self._writers):
            writer.transport.abort()  # idle keep-alive readers see EOF
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # --- connection handling ----------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer requests on one keep-alive connection until the client goes away."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self._connections += 1
        connection = self._connections
        try:
            while not self._closing.is_set():
                request = await _read_request(reader)
                if request is None:
                    break
                request.connection = connection
                self.requests.append(request)
                if self.stall:  # never answer; released when the server stops
                    await self._closing.wait()
                    break
                await self._respond(request, writer)
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        """Dispatch one request according to the configured behaviours."""
        if self.status is not None:
            await _send_json(writer, self.status, _error_body(self.status, self.status_message))
        elif request.method == "POST" and request.path == CHAT_PATH:
            await self._stream_chat(request, writer)
        elif request.method == "POST" and request.path == TRANSCRIPTIONS_PATH:
            await _send_json(writer, 200, {"text": self.transcript})
        elif request.method == "POST" and request.path == SPEECH_PATH:
            await self._stream_speech(request, writer)
        else:
            await _send_json(writer, 404, _error_body(404, f"Unknown path {request.path}"))

    async def _stream_chat(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        """Stream the configured tokens as chat.completion.chunk SSE events."""
        if not (isinstance(request.json, dict) and request.json.get("stream") is True):
            await _send_json(writer, 400, _error_body(400, "this fake only streams"))
            return
        model = request.json.get("model", "m")
        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        await _send_event(writer, _chunk(model, {"role": "assistant", "content": ""}))
        for sent, token in enumerate(self.tokens):
            if self.error_after is not None and sent >= self.error_after:
                break
            if self.gate is not None:
                await self.gate.get()
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            await _send_event(writer, _chunk(model, {"content": token}))
            self.sent_tokens += 1
        if self.error_after is not None:
            await _send_event(writer, _error_body(500, self.error_message))
        else:
            await _send_event(writer, _chunk(model, {}, finish_reason="stop"))
            usage_chunk = _chunk(model, None)
            usage_chunk["usage"] = dict(self.usage)
            await _send_event(writer, usage_chunk)
        writer.write(_http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")  # end of body
        await writer.drain()

    async def _stream_speech(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        """Stream ``speech_pcm(input)`` as raw PCM in odd-sized HTTP chunks."""
        body = request.json if isinstance(request.json, dict) else {}
        text = body.get("input")
        if not isinstance(text, str) or not body.get("model") or not body.get("voice"):
            await _send_json(writer, 400, _error_body(400, "model, voice and input are required"))
            return
        if body.get("response_format") != "pcm":
            await _send_json(writer, 400, _error_body(400, "this fake only speaks pcm"))
            return
        audio = speech_pcm(text)
        cut = self.speech_drop_after if self.speech_drop_after is not None else (
            self.speech_stall_after
        )
        if cut is not None:
            audio = audio[:cut]
        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: audio/pcm\r\n"
            b"Transfer-Encoding: chunked\r\n"
            b"x-request-id: req_loopback\r\n\r\n"
        )
        size = max(1, self.speech_chunk_bytes)
        for start in range(0, len(audio), size):
            piece = audio[start : start + size]
            writer.write(_http_chunk(piece))
            await writer.drain()
            self.sent_speech += piece
        if self.speech_drop_after is not None:
            # An unterminated chunked body: the client sees the connection end mid-audio.
            raise ConnectionResetError("speech_drop_after: dropping the connection")
        if self.speech_stall_after is not None:  # released when the server stops
            await self._closing.wait()
            raise ConnectionResetError("speech_stall_after: server stopping")
        writer.write(b"0\r\n\r\n")  # end of body
        await writer.drain()


# --- wire helpers ------------------------------------------------------------------------


def _chunk(model: str, delta: dict | None, finish_reason: str | None = None) -> dict:
    """A chat.completion.chunk; ``delta=None`` gives the choice-less usage chunk."""
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    ]
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": choices,
        "usage": None,
    }


def _error_body(status: int, message: str) -> dict:
    """An OpenAI-style error document."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    code = "invalid_api_key" if status == 401 else None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _http_chunk(data: bytes) -> bytes:
    """Frame ``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _send_event(writer: asyncio.StreamWriter, payload: dict) -> None:
    """Write one ``data: <json>`` SSE event as its own HTTP chunk and flush it."""
    writer.write(_http_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n"))
    await writer.drain()


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: dict) -> None:
    """Write a complete JSON response with a Content-Length."""
    body = json.dumps(payload).encode()
    phrase = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "x-request-id: req_loopback\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    """Read and parse one request; ``None`` when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    request = RecordedRequest(
        method=method, path=target.split("?", 1)[0], headers=headers, body=body
    )
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/json"):
        request.json = json.loads(body or b"null")
    elif content_type.startswith("multipart/form-data"):
        request.form, request.files = _parse_multipart(content_type, body)
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a chunked request body (trailers ignored)."""
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # CRLF after each chunk


def _parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a multipart/form-data body byte-exactly into text fields and file parts."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise ValueError(f"multipart without boundary: {content_type!r}")
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):  # closing delimiter
            break
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        raw_headers, _, data = part.partition(b"\r\n\r\n")
        part_headers: dict[str, str] = {}
        for line in raw_headers.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            part_headers[name.strip().lower()] = value.strip()
        params = _disposition_params(part_headers.get("content-disposition", ""))
        name = params.get("name", "")
        if "filename" in params:
            files[name] = UploadedFile(params["filename"], part_headers.get("content-type"), data)
        else:
            form[name] = data.decode("utf-8")
    return form, files


def _disposition_params(value: str) -> dict[str, str]:
    """Parameters of a ``Content-Disposition: form-data; name="x"; filename="y"`` value."""
    params: dict[str, str] = {}
    for item in value.split(";")[1:]:
        key, _, raw = item.strip().partition("=")
        params[key.lower()] = raw.strip().strip('"')
    return params
