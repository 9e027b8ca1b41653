"""``StreamingConsumer``: the WebSocket side of a stream, shared by every endpoint.

A mixin for ``AsyncWebsocketConsumer`` (put it first in the bases). It owns the session
start and end, the stream task, cancel on ``cancel`` and on disconnect, JSON and binary
sending, dispatch of client messages by ``type`` to ``on_<type>`` methods, and validation
with clear ``error`` events. Endpoints add their own ``on_<type>`` handlers.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from channels.consumer import get_handler_name
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from streaming import access, processes, services
from streaming.engine import (
    FAILED,
    EngineConfig,
    Event,
    StreamEngine,
    StreamResult,
    TextInput,
)
from streaming.fallback import FallbackTTS, Timeouts
from streaming.monitor import STREAMS_GROUP, SessionPublisher, watch_for
from streaming.protocols import TTS, logged_error
from streaming.providers import (
    UnknownProvider,
    UnknownVoice,
    get_provider,
)
from streaming.speakable import SpeakableFilter
from streaming.voices import resolve_tts

logger = logging.getLogger(__name__)

MESSAGE_TYPE = re.compile(r"[a-z][a-z_]{0,31}")
NUMBER = (int, float)
MAX_NUMBER = 1e9  # ms, Hz, counts: far above any real value, far below the columns' range
KEEP_SESSION_IDS = 32


def excerpt(value: object, limit: int = 40) -> str:
    """A short quote of client input for an error message (never the whole of it)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


class ProtocolError(Exception):
    """A client message the server refuses; becomes an ``error`` event."""

    def __init__(self, code: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.fatal = fatal


@dataclass
class ActiveStream:
    """The stream running on a connection."""

    session_id: uuid.UUID
    engine: StreamEngine
    tts: FallbackTTS  # the requested TTS with its fallbacks (the engine's ``tts``)
    tts_alias: str
    voice: str | None
    llm_provider: str = ""  # the LLM writing the text, if any
    input: TextInput | None = None
    task: asyncio.Task | None = None
    created: asyncio.Task | None = None
    end_reason: str = ""
    played_ms: float | None = None
    audio: bytearray | None = None  # what was sent, when storing audio is on
    publisher: SessionPublisher | None = None


@contextmanager
def refused_providers() -> Iterator[None]:
    """Turn a provider lookup that fails into a ``ProtocolError`` (an ``error`` event)."""
    try:
        yield
    except UnknownProvider as exc:
        raise ProtocolError("unknown_provider", str(exc)) from None
    except UnknownVoice as exc:
        raise ProtocolError("unknown_voice", str(exc)) from None
    except ImproperlyConfigured as exc:
        raise ProtocolError("provider_unavailable", str(exc)) from None


def get_field(msg: dict, name: str, kind: type | tuple, *, required: bool = True) -> object:
    """``msg[name]`` checked against ``kind``; ``None`` when optional and absent."""
    value = msg.get(name)
    if value is None:
        if required:
            raise ProtocolError("missing_field", f"{msg['type']!r} needs the field {name!r}")
        return None
    if not isinstance(value, kind) or (kind is NUMBER and isinstance(value, bool)):
        wanted = "a number" if kind is NUMBER else f"a {getattr(kind, '__name__', kind)}"
        raise ProtocolError("bad_field", f"{name!r} must be {wanted}")
    if kind is NUMBER and not 0 <= value <= MAX_NUMBER:  # also refuses inf (and NaN)
        raise ProtocolError("bad_field", f"{name!r} must be a number from 0 to {MAX_NUMBER:g}")
    if isinstance(value, str) and not services.storable(value):
        raise ProtocolError("bad_text", f"{name!r} has a NUL character or an unpaired "
                                        "surrogate, which cannot be stored")
    return value


class StreamingConsumer:
    """Mixin: one stream at a time per connection, run in its own task."""

    kind = ""
    stream: ActiveStream | None = None

    # --- connection -----------------------------------------------------------------------
    async def connect(self) -> None:
        """Accept the socket (the process's first connection first closes the records a
        dead server process left running)."""
        self.stream = None
        self.closed = False
        self.session_ids: list[uuid.UUID] = []
        await processes.close_orphaned_sessions_once()
        await self.channel_layer.group_add(STREAMS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        """The client is gone: stop the stream (its record is still saved)."""
        self.closed = True
        await self.end_connection()
        await self.channel_layer.group_discard(STREAMS_GROUP, self.channel_name)

    async def end_connection(self) -> None:
        """Stop everything the connection runs, recorded as ``disconnected``."""
        await self.stop_stream("disconnected")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Run the connection. If it dies (its channel layer failed: Redis went away), its
        stream stops, recorded as ``disconnected``, and the socket closes with 1011."""
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if getattr(self, "closed", True):
                raise
            self.closed = True
            logger.exception("a %s connection failed; its stream stops", self.kind)
            await self.end_connection()
            await self.base_send({"type": "websocket.close", "code": 1011})

    async def dispatch(self, message: dict) -> None:
        """Dispatch without Channels' per-message ``close_old_connections()`` thread hop.

        Every database access of these consumers goes through ``database_sync_to_async``,
        which closes old connections itself; the hop made each text delta and ``played``
        report wait behind every session's writes in the one database thread (the load
        test's profile: 27 % of the server's time at 300 sessions; see BENCHMARKS.md).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def monitor_watching(self, message: dict) -> None:
        """A monitor watches: publish progress for a while."""
        watch_for(message["seconds"])

    async def stream_stop(self, message: dict) -> None:
        """A monitor asked to stop a session: stop it if it runs here."""
        if self.stream is not None and str(self.stream.session_id) == message["session_id"]:
            await self.stop_stream("monitor")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Decode, validate and dispatch one client frame; errors become ``error`` events."""
        try:
            if bytes_data is not None:
                await self.receive_audio(bytes_data)
            else:
                msg = self.decode(text_data or "")
                await getattr(self, f"on_{msg['type']}")(msg)
        except ProtocolError as err:
            await self.send_error(err.code, str(err), fatal=err.fatal)
            if err.fatal:
                await self.close(code=4400)
        except Exception as exc:  # a bug: the client gets an error id, the socket lives
            await self.send_error("internal_error",
                                  logged_error("the server could not handle a message", exc))

    def decode(self, text: str) -> dict:
        """Parse a JSON text frame into a message with a known ``type``.

        The frame's size is checked before parsing (room for the longest text, escaped);
        NaN and Infinity are refused, and nesting too deep to parse is bad JSON.
        """
        limit = 8 * settings.STREAMING["MAX_TEXT_CHARS"] + 1024
        if len(text) > limit:
            raise ProtocolError("message_too_long",
                                f"a message may have {limit} characters at most")
        try:
            msg = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise ProtocolError("bad_json", "the message is not valid JSON") from None
        if not isinstance(msg, dict):
            raise ProtocolError("bad_message", "a message must be a JSON object")
        kind = msg.get("type")
        if not isinstance(kind, str) or not kind:
            raise ProtocolError("missing_field", 'a message needs a "type"')
        if not MESSAGE_TYPE.fullmatch(kind) or not hasattr(self, f"on_{kind}"):
            known = ", ".join(self.message_types())
            raise ProtocolError("unknown_type",
                                f"unknown message type {excerpt(kind)} (known: {known})")
        return msg

    @classmethod
    def message_types(cls) -> list[str]:
        """The client message types this endpoint handles."""
        return sorted(name[3:] for name in dir(cls) if name.startswith("on_"))

    async def receive_audio(self, data: bytes) -> None:
        """Binary frames are refused unless an endpoint expects them."""
        raise ProtocolError("unexpected_binary", "this endpoint expects no binary frames now")

    # --- sending --------------------------------------------------------------------------
    async def send_event(self, event: dict, session_id: uuid.UUID | None = None) -> None:
        """Send a JSON event, tagged with its stream's session id."""
        if self.closed:
            return
        if session_id is not None:
            event["session_id"] = str(session_id)
        await self.send(text_data=json.dumps(event))

    async def send_audio(self, frame: bytes) -> None:
        """Send one frame of the running stream's audio (PCM s16le at its sample rate)."""
        await self.send(bytes_data=frame)

    async def send_error(self, code: str, message: str, *, fatal: bool = False,
                         session_id: uuid.UUID | None = None) -> None:
        """Send an ``error`` event."""
        event = {"type": "error", "code": code, "message": message, "fatal": fatal}
        await self.send_event(event, session_id)

    def emitter(self, session_id: uuid.UUID, audio: bytearray | None,
                publisher: SessionPublisher) -> Callable[[Event], object]:
        """The engine's output for one stream: JSON events and binary audio frames."""

        async def emit(event: Event) -> None:
            if isinstance(event, bytes):
                if audio is not None:
                    audio.extend(event)
                if not self.closed:
                    await self.send_audio(event)
                return
            if event["type"] == "progress":
                publisher.progress(event)
            await self.send_event(event, session_id)

        return emit

    # --- streams --------------------------------------------------------------------------
    async def resolve_tts(self, alias: str | None, voice: str | None
                          ) -> tuple[TTS, str, str | None]:
        """The TTS adapter, its alias and the voice for a request; refuses unknown ones."""
        with refused_providers():
            return await resolve_tts(alias, voice)

    def speaker(self, tts: TTS, alias: str, session_id: uuid.UUID) -> FallbackTTS:
        """The requested TTS with its fallbacks (``STREAMING['TTS_FALLBACK']``) and timeouts."""
        chain = [(alias, tts)]
        for other in settings.STREAMING["TTS_FALLBACK"]:
            if other in (name for name, _ in chain):
                continue
            try:
                chain.append((other, get_provider("tts", other)))
            except (UnknownProvider, ImproperlyConfigured) as exc:
                logger.warning("TTS fallback %r is not usable: %s", other, exc)
        timeouts = Timeouts(first_byte=settings.STREAMING["TTS_FIRST_BYTE_TIMEOUT_S"],
                            between_chunks=settings.STREAMING["TTS_CHUNK_TIMEOUT_S"])

        async def announce_switch(switch: dict) -> None:
            await self.send_event({"type": "provider_switch", **switch}, session_id)

        return FallbackTTS(chain, timeouts=timeouts, on_switch=announce_switch)

    def admit_stream(self) -> None:
        """Count a new stream against the client's ``STREAMS_PER_MINUTE``; refuse it when
        the client is over."""
        wait_s = access.stream_wait_s(self.scope)
        if wait_s:
            limit = settings.STREAMING["STREAMS_PER_MINUTE"]
            raise ProtocolError("rate_limited", f"at most {limit} streams a minute; "
                                                f"try again in {wait_s} s")

    def check_text_length(self, chars: int) -> None:
        """Refuse input text over ``STREAMING['MAX_TEXT_CHARS']``."""
        limit = settings.STREAMING["MAX_TEXT_CHARS"]
        if chars > limit:
            raise ProtocolError("text_too_long", f"the text is {chars} characters; "
                                                 f"the limit is {limit}")

    async def start_stream(self, deltas: AsyncIterable[str], *, tts_alias: str | None,
                           voice: str | None, text_input: TextInput | None = None,
                           llm_provider: str = "",
                           announce: dict | None = None) -> ActiveStream:
        """Stop any running stream, announce a new session and run it in its own task.

        ``llm_provider`` names the LLM that writes ``deltas`` (its text is echoed as ``llm``
        events). The session's row is inserted in the background (``stream.created``)."""
        tts, alias, voice = await self.resolve_tts(tts_alias, voice)
        session_id = uuid.uuid4()
        with refused_providers():  # a voice whose files are missing fails on its sample rate
            speaker = self.speaker(tts, alias, session_id)
        await self.stop_stream("superseded")
        audio = bytearray() if settings.STREAMING["STORE_AUDIO"] else None
        publisher = SessionPublisher(self.channel_layer, session_id, {
            "kind": self.kind, "tts": alias, "voice": voice,
            "llm": llm_provider,
        })
        llm_text = bool(llm_provider)
        engine = StreamEngine(speaker,
                              self.emitter(session_id, audio, publisher), voice=voice,
                              config=EngineConfig.from_settings(settings.STREAMING),
                              speakable=SpeakableFilter(), llm_text=llm_text,
                              echo_deltas_as="llm" if llm_text else None)
        stream = ActiveStream(session_id, engine, speaker, alias, voice, llm_provider,
                              text_input, audio=audio, publisher=publisher)
        self.stream = stream
        self.session_ids = [*self.session_ids[-KEEP_SESSION_IDS + 1:], session_id]
        await self.send_event({
            "type": "session", "sample_rate": engine.sample_rate, "format": "pcm_s16le",
            "channels": 1, "tts": alias, "voice": voice, **(announce or {}),
        }, session_id)
        stream.created = asyncio.create_task(services.create_session(
            session_id, kind=self.kind, tts_provider=alias, voice=voice or "",
            channel=self.channel_name, sample_rate=engine.sample_rate,
            llm_provider=llm_provider))
        stream.task = asyncio.create_task(self.run_stream(stream, deltas),
                                          name=f"stream-{session_id}")
        publisher.started()
        return stream

    async def run_stream(self, stream: ActiveStream, deltas: AsyncIterable[str]) -> None:
        """Run the engine, then send the metrics, save the record and send ``done``."""
        sid = stream.session_id
        try:
            result = await stream.engine.run(deltas)
        except asyncio.CancelledError:  # the consumer itself is going away: still save
            if stream.engine.result is not None:
                await asyncio.shield(self.save_stream(stream, stream.engine.result))
            raise
        try:
            if result.status == FAILED:
                await self.send_error(result.error_code, result.error, session_id=sid)
            await self.send_event({"type": "metrics", **result.metrics}, sid)
            await self.save_stream(stream, result)
            await self.stream_finished(stream, result)
            stream.publisher.ended(result.status, result.metrics)
            await self.send_event({"type": "done", "status": result.status}, sid)
        finally:
            if self.stream is stream:
                self.stream = None

    async def save_stream(self, stream: ActiveStream, result: StreamResult) -> None:
        """Store the stream's outcome; a database failure is logged, never raised."""
        if stream.created is not None:
            try:
                await stream.created
            except Exception:
                logger.exception("could not insert session %s at its start", stream.session_id)
        extra = {"played_ms": stream.played_ms} if stream.played_ms is not None else {}
        if stream.tts.switches:
            extra["fallbacks"] = stream.tts.switches
        try:
            await services.finish_session(
                stream.session_id, result, sample_rate=stream.engine.sample_rate,
                end_reason=stream.end_reason, extra=extra, audio=stream.audio,
            )
        except Exception as exc:
            logger.exception("could not save session %s", stream.session_id)
            try:
                await services.close_session(
                    stream.session_id, status=result.status, end_reason=stream.end_reason,
                    error=f"the outcome could not be saved ({type(exc).__name__}; see the "
                          f"server log)")
            except Exception:
                logger.exception("could not close session %s", stream.session_id)
        await self.stream_saved(stream, result)

    async def stream_saved(self, stream: ActiveStream, result: StreamResult) -> None:
        """Hook: store what the endpoint keeps of a stream beside its session (called once
        the session is saved, also when the connection is going away); never raises."""

    async def stream_finished(self, stream: ActiveStream, result: StreamResult) -> None:
        """Hook: a stream has ended and its record is saved (``done`` follows)."""

    async def stop_stream(self, reason: str, *, played_ms: float | None = None
                          ) -> StreamResult | None:
        """Cancel the running stream (every task of it) and wait until it is saved."""
        stream = self.stream
        if stream is None or stream.task is None:
            return None
        if played_ms is not None:
            stream.played_ms = played_ms
        if stream.engine.result is None:
            stream.end_reason = reason
        stream.engine.stop()
        await asyncio.shield(stream.task)
        return stream.engine.result

    # --- messages common to every endpoint ------------------------------------------------
    async def on_cancel(self, msg: dict) -> None:
        """Stop now; ``played_ms`` says how much audio the listener heard."""
        played_ms = get_field(msg, "played_ms", NUMBER, required=False)
        await self.stop_stream("client", played_ms=played_ms)

    async def on_ping(self, msg: dict) -> None:
        """Answer at once: keep-alive for proxies, and the load test's probe of how long a
        message waits for the server's event loop."""
        await self.send_event({"type": "pong"})

    async def on_played(self, msg: dict) -> None:
        """The listener's playback position (flow control and barge-in truncation). A report
        naming another session (sent before that stream ended) is not this stream's."""
        ms = get_field(msg, "ms", NUMBER)
        session_id = get_field(msg, "session_id", str, required=False)
        stream = self.stream
        if stream is None or session_id not in (None, str(stream.session_id)):
            return
        stream.played_ms = float(ms)
        stream.engine.played(ms)

    async def on_client_metrics(self, msg: dict) -> None:
        """What the browser measured; stored on the session it names (or the last one)."""
        raw_id = get_field(msg, "session_id", str, required=False)
        if not self.session_ids:
            raise ProtocolError("no_session", "no stream has run on this connection")
        try:
            session_id = uuid.UUID(raw_id) if raw_id else self.session_ids[-1]
        except ValueError:
            raise ProtocolError("bad_field", "'session_id' is not a session id") from None
        if session_id not in self.session_ids:
            raise ProtocolError("unknown_session", "that session did not run on this connection")
        try:
            services.clean_client_metrics(msg)
        except ValueError as exc:
            raise ProtocolError("bad_field", str(exc)) from None
        await services.record_client_metrics(session_id, msg)
