"""The client side of ``manage.py loadtest``: WebSocket sessions that behave like listeners.

Plain asyncio and ``websockets``, no Django. Each session connects to an endpoint, starts
one stream (on the TTS endpoint it also plays the LLM: it sends the reply word by word on
the scenario's schedule), reads every frame until ``done`` and measures, on its own clock,
the time to first audio and the gaps a listener playing in real time would hear. A session
slot may run several such streams back to back (rounds), which keeps the load steady. A
:class:`ProcessSampler` watches the server's CPU and memory meanwhile, and a
:class:`LoopProbe` (one more connection, pinging every 50 ms) how long a message waits for
the server's event loop.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from streaming.simulated import SimulatedLLM
from streaming.stats import format_ms, percentile

ENDPOINT_PATHS = {"tts": "/api/tts/ws", "voicebot": "/api/voicebot/streaming"}
# A benchmark's server lets its one client address hold every session (streaming/access.py).
UNLIMITED_ACCESS_ENV = {"STREAMING_MAX_CONNECTIONS_PER_ADDRESS": "0",
                        "STREAMING_STREAMS_PER_MINUTE": "0", "STREAMING_REQUIRE_LOGIN": "0"}


def origin_of(url: str) -> str:
    """The ``Origin`` a browser on the server's own page sends for ``url`` (scheme, host and
    port: the server checks all three)."""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
USER_TEXT = "Tell me a story."
SERVER_METRICS = ("ttfa_ms", "overhead_ms", "overlap_ms", "first_segment_ms", "tts_ttfb_ms",
                  "llm_ttft_ms", "text_done_ms", "total_ms", "audio_ms", "segments", "bytes")
MAX_FRAMES = 1_000_000  # a bound on the frames one session reads (far above any real stream)
PLAYED_INTERVAL_S = 0.25


@dataclass(frozen=True)
class Scenario:
    """Provider timings of a run (what the simulated LLM and TTS do)."""

    llm_first_token_ms: float = 300.0
    llm_tokens_per_s: float = 40.0
    words: int = 80
    tts_first_byte_ms: float = 150.0
    tts_rtf: float = 5.0
    tts_frame_ms: int = 100
    tts_sample_rate: int = 24000

    def server_env(self) -> dict[str, str]:
        """The ``SIMULATED_*`` environment variables that give a server this scenario."""
        return {
            "SIMULATED_LLM_FIRST_TOKEN_MS": str(self.llm_first_token_ms),
            "SIMULATED_LLM_TOKENS_PER_S": str(self.llm_tokens_per_s),
            "SIMULATED_LLM_WORDS": str(self.words),
            "SIMULATED_TTS_FIRST_BYTE_MS": str(self.tts_first_byte_ms),
            "SIMULATED_TTS_REALTIME_FACTOR": str(self.tts_rtf),
            "SIMULATED_TTS_FRAME_MS": str(self.tts_frame_ms),
            "SIMULATED_TTS_SAMPLE_RATE": str(self.tts_sample_rate),
        }

    def tokens(self) -> list[str]:
        """The reply the TTS-endpoint client streams, cut into word tokens."""
        return SimulatedLLM(words=self.words).tokens()


SCENARIOS = {
    "standard": Scenario(),
    "slow-tts": Scenario(tts_first_byte_ms=2500.0),  # a slow cloud voice
}


@dataclass(frozen=True)
class ClientConfig:
    """How the sessions of a run connect and behave."""

    base_url: str
    endpoint: str = "tts"
    tts: str = "simulated"
    sessions: int = 10
    ramp_s: float = 2.0
    timeout_s: float = 120.0
    paced: bool = False
    jitter_ms: float = 100.0
    scenario: Scenario = field(default_factory=Scenario)
    rounds: int = 1  # streams each session slot runs back to back

    @property
    def url(self) -> str:
        """The WebSocket URL of the endpoint."""
        return self.base_url.rstrip("/") + ENDPOINT_PATHS[self.endpoint]


class PlayoutClock:
    """A listener playing the stream in real time, from its first frame plus a jitter buffer.

    Frames are queued back to back; when a frame arrives after the queued audio has run
    out, the listener heard a gap (an underrun) and playback resumes after a new jitter
    buffer. Times are client milliseconds.
    """

    def __init__(self, jitter_ms: float = 100.0) -> None:
        self.jitter_ms = jitter_ms
        self.run_start: float | None = None  # when the current gapless run starts playing
        self.run_audio_ms = 0.0  # audio queued in the current run
        self.earlier_ms = 0.0  # audio played in earlier runs
        self.underruns = 0
        self.stall_ms = 0.0  # silence heard after playback began
        self.gaps: list[tuple[float, float]] = []  # (when the queue ran dry, silence), first 20

    def push(self, now_ms: float, audio_ms: float) -> None:
        """A frame of ``audio_ms`` arrived at ``now_ms``."""
        if self.run_start is None:
            self.run_start = now_ms + self.jitter_ms
        elif now_ms > self.run_start + self.run_audio_ms:  # the playhead ran dry
            dry_at = self.run_start + self.run_audio_ms
            self.underruns += 1
            self.earlier_ms += self.run_audio_ms
            self.run_start = now_ms + self.jitter_ms
            self.run_audio_ms = 0.0
            self.stall_ms += self.run_start - dry_at
            if len(self.gaps) < 20:
                self.gaps.append((dry_at, self.run_start - dry_at))
        self.run_audio_ms += audio_ms

    def played_ms(self, now_ms: float) -> float:
        """Milliseconds of audio played by ``now_ms``."""
        if self.run_start is None:
            return 0.0
        return self.earlier_ms + min(self.run_audio_ms, max(0.0, now_ms - self.run_start))


@dataclass
class SessionRow:
    """What one session measured (client times in ms from the stream's start, its view)."""

    index: int
    round: int = 1  # which of its slot's streams this is (1-based)
    session_id: str = ""
    status: str = ""  # the ``done`` status, or "error" when the session never got one
    connect_ms: float | None = None
    client_ttfa_ms: float | None = None
    done_ms: float | None = None
    ideal_ttfa_ms: float | None = None
    gap_ms: float | None = None
    underruns: int = 0
    stall_ms: float = 0.0
    gaps: list[list[float]] = field(default_factory=list)  # [ms since start when dry, silence ms]
    frames: int = 0
    audio_bytes: int = 0
    played_sent: int = 0
    errors: list[str] = field(default_factory=list)
    server: dict = field(default_factory=dict)
    segments: list[str] = field(default_factory=list)  # the texts announced, in order

    def finish(self) -> None:
        """Derive the ideal TTFA and the client's gap to it from the server metrics."""
        first_segment = self.server.get("first_segment_ms")
        ttfb = self.server.get("tts_ttfb_ms")
        if first_segment is not None and ttfb is not None:
            self.ideal_ttfa_ms = round(first_segment + ttfb, 3)
            if self.client_ttfa_ms is not None:
                self.gap_ms = round(self.client_ttfa_ms - self.ideal_ttfa_ms, 3)


def now_ms() -> float:
    """The client's monotonic clock, in milliseconds."""
    return time.perf_counter() * 1000


def open_socket(url: str, timeout_s: float) -> connect:
    """A connection to ``url`` as the pages open one (their Origin), without compression,
    proxy or frame size limit; ``async with`` it."""
    return connect(url, origin=origin_of(url), compression=None, proxy=None, max_size=None,
                   open_timeout=timeout_s)


# What ends a client connection early; ``socket_error`` names each for an error list.
SOCKET_ERRORS = (TimeoutError, OSError, WebSocketException, ValueError)


def socket_error(exc: BaseException) -> str:
    """The error entry of a connection that ended with ``exc`` (one of ``SOCKET_ERRORS``)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionClosed):
        return f"closed:{exc.rcvd.code if exc.rcvd else 'none'}"
    if isinstance(exc, OSError | WebSocketException):
        return f"connect:{type(exc).__name__}: {exc}"
    return f"bad_frame:{exc}"  # a text frame that is not JSON


class Session:
    """One client connection running one stream to its ``done``."""

    def __init__(self, index: int, config: ClientConfig, round_no: int = 1) -> None:
        self.config = config
        self.row = SessionRow(index, round_no)
        self.player = PlayoutClock(config.jitter_ms)
        self.sample_rate = config.scenario.tts_sample_rate
        self.t0: float | None = None  # when the stream started, from the client's view

    async def run(self) -> SessionRow:
        """Connect, stream, read until ``done``; every failure becomes an error entry."""
        row = self.row
        started = now_ms()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                async with open_socket(self.config.url, self.config.timeout_s) as ws:
                    row.connect_ms = round(now_ms() - started, 3)
                    await self.stream(ws)
        except SOCKET_ERRORS as exc:
            row.errors.append(socket_error(exc))
        row.status = row.status or "error"
        if row.status != "completed" and not row.errors:
            row.errors.append(f"status:{row.status}")
        row.finish()
        return row

    async def stream(self, ws: ClientConnection) -> None:
        """Start the stream the endpoint's way, then read it to the end."""
        helpers: list[asyncio.Task] = []
        if self.config.endpoint == "voicebot":
            event = json.loads(await ws.recv())
            if event.get("type") != "conversation":
                self.row.errors.append(f"unexpected:{event.get('type')}")
            self.t0 = now_ms()
            await ws.send(json.dumps({"type": "user_text", "text": USER_TEXT,
                                      "tts": self.config.tts}))
        else:
            self.t0 = now_ms()
            await ws.send(json.dumps({"type": "start", "tts": self.config.tts}))
            helpers.append(asyncio.create_task(self.play_llm(ws)))
        if self.config.paced:
            helpers.append(asyncio.create_task(self.report_played(ws)))
        try:
            await self.read(ws)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        if self.row.status:  # what the browser reports at the end of a stream
            await ws.send(json.dumps({
                "type": "client_metrics", "session_id": self.row.session_id,
                "playback_start_ms": round((self.row.client_ttfa_ms or 0) + self.config.jitter_ms,
                                           3),
                "underruns": self.player.underruns,
                "played_ms": round(self.player.played_ms(now_ms()), 3),
            }))

    async def play_llm(self, ws: ClientConnection) -> None:
        """Send the reply as text deltas, paced like the scenario's LLM, then ``end``."""
        scenario = self.config.scenario
        first = self.t0 / 1000 + scenario.llm_first_token_ms / 1000
        for n, token in enumerate(scenario.tokens()):
            delay = first + n / scenario.llm_tokens_per_s - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))
            await ws.send(json.dumps({"type": "text", "delta": token}))
        await ws.send(json.dumps({"type": "end"}))

    async def report_played(self, ws: ClientConnection) -> None:
        """Every 250 ms, tell the server how far the simulated listener has played."""
        last = -1
        for _ in range(int(self.config.timeout_s / PLAYED_INTERVAL_S) + 1):
            await asyncio.sleep(PLAYED_INTERVAL_S)
            if self.player.run_start is None:
                continue
            played = round(self.player.played_ms(now_ms()))
            if played != last:
                await ws.send(json.dumps({"type": "played", "ms": played}))
                self.row.played_sent += 1
                last = played

    async def read(self, ws: ClientConnection) -> None:
        """Read frames until ``done``: audio feeds the player, events are recorded."""
        row = self.row
        for _ in range(MAX_FRAMES):
            frame = await ws.recv()
            t = now_ms()
            if isinstance(frame, bytes):
                if row.client_ttfa_ms is None:
                    row.client_ttfa_ms = round(t - self.t0, 3)
                row.frames += 1
                row.audio_bytes += len(frame)
                self.player.push(t, len(frame) / 2 / self.sample_rate * 1000)
                continue
            event = json.loads(frame)
            kind = event.get("type")
            if kind == "session":
                row.session_id = event.get("session_id", "")
                self.sample_rate = int(event.get("sample_rate") or self.sample_rate)
            elif kind == "segment":
                row.segments.append(str(event.get("text", "")))
            elif kind == "metrics":
                row.server = {k: event.get(k) for k in SERVER_METRICS if k in event}
            elif kind == "error":
                row.errors.append(f"error:{event.get('code')}")
            elif kind == "done":
                row.status = event.get("status", "")
                row.done_ms = round(t - self.t0, 3)
                row.underruns = self.player.underruns
                row.stall_ms = round(self.player.stall_ms, 3)
                row.gaps = [[round(at - self.t0, 1), round(ms, 1)] for at, ms in self.player.gaps]
                return
        row.errors.append("too_many_frames")


class ProcessSampler:
    """Samples a process's CPU % and RSS every ``interval_s`` (psutil), in an asyncio task."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.cpu: list[float] = []
        self.rss: list[int] = []
        self.process.cpu_percent(None)

    def sample(self) -> tuple[float, int]:
        """CPU % since the previous call and the current RSS in bytes."""
        return self.process.cpu_percent(None), self.rss_now()

    def rss_now(self) -> int:
        """The current RSS in bytes (without touching the CPU measurement's interval)."""
        return self.process.memory_info().rss

    async def run(self, max_samples: int) -> None:
        """Sample until cancelled (or ``max_samples`` samples)."""
        for _ in range(max_samples):
            await asyncio.sleep(self.interval_s)
            cpu, rss = self.sample()
            self.cpu.append(cpu)
            self.rss.append(rss)

    def summary(self, baseline_rss: int, sessions: int) -> dict:
        """Mean and peak CPU, peak RSS and RSS per concurrent session (MB)."""
        mb = 1024 * 1024
        peak = max(self.rss, default=baseline_rss)
        return {
            "samples": len(self.cpu),
            "cpu_mean_percent": round(sum(self.cpu) / len(self.cpu), 1) if self.cpu else None,
            "cpu_peak_percent": round(max(self.cpu), 1) if self.cpu else None,
            "rss_baseline_mb": round(baseline_rss / mb, 2),
            "rss_peak_mb": round(peak / mb, 2),
            "rss_per_session_mb": round((peak - baseline_rss) / mb / max(sessions, 1), 4),
        }


class MachineSampler(ProcessSampler):
    """The whole machine's CPU (% of one core, like a process: 200 = two cores busy)."""

    def __init__(self, interval_s: float = 0.2) -> None:
        import psutil

        self.psutil = psutil
        self.interval_s = interval_s
        self.cpu = []
        self.rss = []
        self.cores = psutil.cpu_count() or 1
        psutil.cpu_percent(None)

    def sample(self) -> tuple[float, int]:
        """Machine CPU % since the previous call (in cores x 100) and no memory."""
        return self.psutil.cpu_percent(None) * self.cores, 0


async def loop_lag(samples: list[float], interval_s: float = 0.05,
                   max_samples: int = 100_000) -> None:
    """Record how late this event loop wakes up (the client's own measurement error)."""
    for _ in range(max_samples):
        before = time.perf_counter()
        await asyncio.sleep(interval_s)
        samples.append((time.perf_counter() - before - interval_s) * 1000)


PROBE_INTERVAL_S = 0.05
Span = tuple[float, float]  # (from, to) on the client's clock (``now_ms``)


class LoopProbe:
    """A connection of its own to an endpoint that sends ``ping`` every ``interval_s``, one
    outstanding at a time, and records each round trip to its ``pong``: how long a message
    waited for the server's event loop (plus the client's own loop lag and the network)."""

    def __init__(self, url: str, *, interval_s: float = PROBE_INTERVAL_S,
                 timeout_s: float = 30.0) -> None:
        self.url = url
        self.interval_s = interval_s
        self.timeout_s = timeout_s  # to connect, and for each pong
        self.pings: list[tuple[float, float]] = []  # (sent at, round trip ms) of each pong
        self.sent = 0
        self.errors: list[str] = []
        self.stopping = False
        self.running = asyncio.Event()  # set at the first pong, or when the probe failed
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        """Connect and return once the first ping is answered (or the probe failed)."""
        self.task = asyncio.create_task(self.run())
        await self.running.wait()

    async def stop(self) -> None:
        """Send no more pings; the outstanding one's pong is still awaited."""
        self.stopping = True
        if self.task is not None:
            await self.task

    async def run(self) -> None:
        """Ping, wait for the pong, record, until stopped; a failure ends the probe."""
        try:
            async with open_socket(self.url, self.timeout_s) as ws:
                next_at = time.perf_counter()
                while not self.stopping:
                    sent = now_ms()
                    await ws.send(json.dumps({"type": "ping"}))
                    self.sent += 1
                    try:
                        async with asyncio.timeout(self.timeout_s):
                            await self.pong(ws)
                    except TimeoutError:
                        self.errors.append(f"no_pong:{self.timeout_s:g}s")
                        return
                    self.pings.append((sent, round(now_ms() - sent, 3)))
                    self.running.set()
                    next_at = max(next_at + self.interval_s, time.perf_counter())
                    await asyncio.sleep(next_at - time.perf_counter())
        except SOCKET_ERRORS as exc:
            self.errors.append(socket_error(exc))
        finally:
            self.running.set()

    async def pong(self, ws: ClientConnection) -> None:
        """Read until a ``pong`` (the voicebot's ``conversation`` event comes first)."""
        for _ in range(MAX_FRAMES):
            frame = await ws.recv()
            if isinstance(frame, str) and json.loads(frame).get("type") == "pong":
                return
        raise ValueError("no pong among the frames")

    def round_trips(self, spans: Iterable[Span]) -> list[float]:
        """The round trips (ms) of the pings sent within any of ``spans``."""
        spans = list(spans)
        return [rtt for sent, rtt in self.pings if any(a <= sent <= b for a, b in spans)]

    def report(self, spans: Iterable[Span]) -> dict:
        """``server_probe_ms``: ``stats`` of the round trips of the pings sent within
        ``spans`` (while the load ran); ``server_probe``: how the probe went, with the pongs
        that arrived within the spans (``pongs_during``)."""
        spans = list(spans)
        return {
            "server_probe_ms": stats(self.round_trips(spans)),
            "server_probe": {
                "interval_ms": round(self.interval_s * 1000, 3), "pings_sent": self.sent,
                "pongs": len(self.pings),
                "pongs_during": sum(any(a <= sent + rtt <= b for a, b in spans)
                                    for sent, rtt in self.pings),
                "errors": self.errors,
            },
        }


def probe_line(round_trips: dict, errors: Sequence[str] = (), label: str = "probe") -> str:
    """The text report's line of the probe's round trips (``server_probe_ms``)."""
    failed = f"; probe errors: {', '.join(errors)}" if errors else ""
    return (f"{label}: a second connection's ping answered in p50 "
            f"{format_ms(round_trips['p50'])} ms, p99 {format_ms(round_trips['p99'])} ms, max "
            f"{format_ms(round_trips['max'])} ms "
            f"({round_trips['n']} pings){failed}")


@dataclass
class LoadRun:
    """The rows of a run plus what was watched meanwhile.

    ``rows`` are the counted streams: all of them with one round, rounds 2..R with R >= 2,
    when round 1 (``round1``) only brings the load up to its steady state.
    """

    rows: list[SessionRow]
    warmup: list[SessionRow]
    wall_s: float
    max_active: int
    server: dict | None
    client: dict
    round1: list[SessionRow] = field(default_factory=list)
    probe: dict = field(default_factory=dict)  # ``LoopProbe.report`` over the sessions
    rss_by_round_mb: list[float] | None = None  # the server's, as each round ended

    @property
    def all_rows(self) -> list[SessionRow]:
        """Every stream of the run after the warm-up sessions, counted or not."""
        return self.round1 + self.rows


async def run_load(config: ClientConfig, *, server_pid: int | None = None, warmup: int = 1,
                   before_sessions: Callable[[], None] | None = None) -> LoadRun:
    """Warm up, then run ``config.sessions`` session slots whose starts spread over the ramp;
    each slot runs ``config.rounds`` streams back to back (a new connection for each). A
    ``LoopProbe`` pings the server meanwhile; with ``server_pid`` its RSS is also taken as
    each round ends (when every slot has finished that round)."""
    warm = [await Session(-1 - i, config).run() for i in range(warmup)]
    if before_sessions:
        before_sessions()
    probe = LoopProbe(config.url, timeout_s=config.timeout_s)
    await probe.start()
    sampler = ProcessSampler(server_pid) if server_pid else None
    baseline = sampler.sample()[1] if sampler else 0
    me = ProcessSampler(os.getpid())
    machine = MachineSampler()
    lags: list[float] = []
    max_samples = int((config.ramp_s + config.rounds * config.timeout_s) / 0.2) + 100
    watchers = [asyncio.create_task(loop_lag(lags)), asyncio.create_task(me.run(max_samples)),
                asyncio.create_task(machine.run(max_samples))]
    if sampler:
        watchers.append(asyncio.create_task(sampler.run(max_samples)))
    active = 0
    max_active = 0
    finished = [0] * config.rounds  # slots done with each round
    rss_by_round: list[int | None] = [None] * config.rounds  # the server's, as each ends

    async def slot(index: int) -> list[SessionRow]:
        nonlocal active, max_active
        await asyncio.sleep(index * config.ramp_s / config.sessions)
        rows = []
        for round_no in range(1, config.rounds + 1):
            active += 1
            max_active = max(max_active, active)
            try:
                rows.append(await Session(index, config, round_no).run())
            finally:
                active -= 1
                finished[round_no - 1] += 1
                if sampler and finished[round_no - 1] == config.sessions:
                    rss_by_round[round_no - 1] = sampler.rss_now()
        return rows

    started = time.perf_counter()
    sessions_from = now_ms()
    try:
        slots = await asyncio.gather(*(slot(i) for i in range(config.sessions)))
    finally:
        sessions_to = now_ms()
        await probe.stop()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    wall = time.perf_counter() - started
    client = me.summary(me.rss[0] if me.rss else 0, config.sessions)
    client["loop_lag_ms"] = stats(lags)
    client["machine_cores"] = machine.cores
    client["machine_cpu_mean_percent"] = machine.summary(0, 1)["cpu_mean_percent"]
    streams = [row for rows in slots for row in rows]
    first = 2 if config.rounds >= 2 else 1
    return LoadRun(rows=[r for r in streams if r.round >= first],
                   round1=[r for r in streams if r.round < first],
                   warmup=warm, wall_s=round(wall, 3), max_active=max_active,
                   server=sampler.summary(baseline, config.sessions) if sampler else None,
                   client=client, probe=probe.report([(sessions_from, sessions_to)]),
                   rss_by_round_mb=[round((rss or 0) / 1024 / 1024, 2) for rss in rss_by_round]
                   if sampler else None)


PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99}


def stats(values: Iterable[float | None]) -> dict:
    """n, mean, p50, p90, p95, p99 and max of the values that are not None."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"n": 0, "mean": None, **dict.fromkeys(PERCENTILES, None), "max": None}
    return {
        "n": len(present),
        "mean": round(sum(present) / len(present), 3),
        **{key: round(percentile(present, q), 3) for key, q in PERCENTILES.items()},
        "max": round(max(present), 3),
    }


SUMMARY_METRICS: dict[str, Callable[[SessionRow], float | None]] = {
    "client_ttfa_ms": lambda r: r.client_ttfa_ms,
    "server_ttfa_ms": lambda r: r.server.get("ttfa_ms"),
    "overhead_ms": lambda r: r.server.get("overhead_ms"),
    "overlap_ms": lambda r: r.server.get("overlap_ms"),
    "ideal_ttfa_ms": lambda r: r.ideal_ttfa_ms,
    "gap_ms": lambda r: r.gap_ms,
    "underruns": lambda r: r.underruns,
    "errors": lambda r: len(r.errors),
    "connect_ms": lambda r: r.connect_ms,
    "done_ms": lambda r: r.done_ms,
}


def summarize(rows: list[SessionRow]) -> dict:
    """Percentiles of every metric, plus counts of completions, errors and underruns."""
    summary: dict = {name: stats(get(r) for r in rows) for name, get in SUMMARY_METRICS.items()}
    summary["sessions"] = len(rows)
    summary["completed"] = sum(r.status == "completed" and not r.errors for r in rows)
    summary["sessions_with_errors"] = sum(bool(r.errors) for r in rows)
    summary["error_kinds"] = _count(":".join(e.split(":")[:2]) for r in rows for e in r.errors)
    summary["underruns_total"] = sum(r.underruns for r in rows)
    summary["sessions_with_underruns"] = sum(r.underruns > 0 for r in rows)
    texts = [text for r in rows for text in r.segments]
    shortest = min(texts, key=lambda text: len(text.split()), default="")
    summary["shortest_segment"] = {"words": len(shortest.split()), "text": shortest}
    return summary


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def rows_as_dicts(rows: list[SessionRow]) -> list[dict]:
    """The rows, JSON-ready."""
    return [asdict(r) for r in rows]
