"""``manage.py loadtest``: many concurrent streaming sessions against a real Daphne server.

By default it starts one ``daphne`` process on a free loopback port (throwaway SQLite
database, the scenario's simulated providers set through ``SIMULATED_*`` environment
variables), runs the sessions from this process (``streaming.loadclient``), samples the
server's CPU and memory (and its RSS as each round ends), pings it from one more connection
to see how long a message waits for its event loop (``LoopProbe``), checks that every
session left its record, prints percentile tables and writes a JSON result file. ``--url``
targets a running deployment instead. ``--capacity`` measures Piper's compute ceiling and
searches the largest number of paced listeners the server serves without gaps
(``streaming.loadcapacity``).
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.loadcapacity import (
    CEILING_SECONDS,
    piper_ceiling,
    piper_options,
    probe_verdict,
    search_capacity,
)
from streaming.loadclient import (
    SCENARIOS,
    UNLIMITED_ACCESS_ENV,
    ClientConfig,
    LoadRun,
    Scenario,
    probe_line,
    rows_as_dicts,
    run_load,
    summarize,
)
from streaming.stats import format_ms

READY_TIMEOUT_S = 30.0
RECORD_WAIT_S = 15.0
POLICIES = ("fifo", "deadline")  # LOCAL_SCHEDULING values; "both" runs them in this order
QUANTILES = ("p50", "p90", "p95", "p99", "max")
SIDE_BY_SIDE = (  # (label, summary key, statistic) of the side-by-side table
    ("client TTFA p50 (ms)", "client_ttfa_ms", "p50"),
    ("client TTFA p95 (ms)", "client_ttfa_ms", "p95"),
    ("client TTFA p99 (ms)", "client_ttfa_ms", "p99"),
    ("client TTFA - ideal p50", "gap_ms", "p50"),
    ("underruns", "underruns_total", None),
    ("sessions with underruns", "sessions_with_underruns", None),
    ("sessions with errors", "sessions_with_errors", None),
)
TABLE = (  # (summary key, label)
    ("client_ttfa_ms", "client TTFA (ms)"),
    ("server_ttfa_ms", "server ttfa_ms"),
    ("overhead_ms", "overhead_ms"),
    ("overlap_ms", "overlap_ms"),
    ("ideal_ttfa_ms", "ideal TTFA (ms)"),
    ("gap_ms", "client TTFA - ideal (ms)"),
    ("underruns", "underruns / session"),
    ("errors", "errors / session"),
)
RECORDS_SNIPPET = """
import json, os
from django.utils.dateparse import parse_datetime
from streaming.models import StreamSession
spec = json.load(open(os.environ["LOADTEST_SPEC"]))
during = StreamSession.objects.filter(created_at__gte=parse_datetime(spec["since"]),
                                      kind=spec["kind"]).exclude(id__in=spec["exclude"])
statuses = {}
for status in during.values_list("status", flat=True):
    statuses[status] = statuses.get(status, 0) + 1
known = set(str(i) for i in StreamSession.objects.filter(id__in=spec["ids"])
            .values_list("id", flat=True))
print("LOADTEST-RECORDS " + json.dumps({"by_status": statuses,
                                        "missing_ids": sorted(set(spec["ids"]) - known)}))
"""


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A Daphne process of this project on a loopback port, with its own database."""

    def __init__(self, env: dict[str, str], workdir: Path,
                 application: str = "voicebot_site.asgi:application") -> None:
        self.env = env
        self.application = application
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "daphne.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The server's base WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}"

    def manage(self, *args: str, extra_env: dict[str, str] | None = None,
               timeout: float = 120) -> str:
        """Run a ``manage.py`` command with the server's environment; its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR,
            env=self.env | (extra_env or {}), capture_output=True, text=True, timeout=timeout,
        )
        if done.returncode:
            raise CommandError(f"manage.py {' '.join(args[:1])} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def start(self) -> None:
        """Migrate the database, start Daphne and wait until ``/healthz`` says its models
        are loaded (as a proxy would before sending it users)."""
        self.manage("migrate", "--noinput", "-v", "0")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                 self.application],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        answer = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CommandError(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except HTTPError as exc:  # 503: still loading
                answer = f"HTTP {exc.code}: {exc.read(500).decode(errors='replace')}"
            except OSError:
                pass
            time.sleep(0.1)
        raise CommandError(f"daphne was not ready in {READY_TIMEOUT_S:.0f} s ({answer}):\n"
                           f"{self.log()}")

    def stop(self) -> None:
        """Stop Daphne (SIGTERM, then SIGKILL after 15 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def records(self, *, since: str, kind: str, ids: list[str], exclude: list[str]) -> dict:
        """Session records created since ``since``, by status, waiting for running ones."""
        spec = self.workdir / "records.json"
        spec.write_text(json.dumps({"since": since, "kind": kind, "ids": ids,
                                    "exclude": exclude}))
        deadline = time.monotonic() + RECORD_WAIT_S
        result: dict = {}
        while True:
            out = self.manage("shell", "-v", "0", "-c", RECORDS_SNIPPET,
                              extra_env={"LOADTEST_SPEC": str(spec)})
            line = next((x for x in out.splitlines() if x.startswith("LOADTEST-RECORDS ")), "")
            result = json.loads(line.split(" ", 1)[1]) if line else {"by_status": {}}
            if not result["by_status"].get("running") or time.monotonic() > deadline:
                return result
            time.sleep(1.0)


class Profiler:
    """``py-spy record`` attached to the server during the sessions (a dev tool, optional)."""

    def __init__(self, pid: int, path: Path, rate: int = 200) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise CommandError("--profile needs py-spy: pip install py-spy (not a requirement)")
        fmt = {".txt": "raw", ".json": "speedscope"}.get(path.suffix, "flamegraph")
        self.path, self.fmt = path, fmt
        # --gil: only samples that hold the GIL, i.e. where the Python CPU goes.
        self.cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", fmt,
                    "--gil", "--threads", "--output", str(path)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Attach."""
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

    def stop(self) -> None:
        """Detach and let py-spy write its file."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def top(self, limit: int = 15) -> list[tuple[str, float]]:
        """Functions by share of samples (self time), from a ``raw`` profile."""
        if self.fmt != "raw" or not self.path.exists():
            return []
        own: Counter[str] = Counter()
        for line in self.path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                own[stack.split(";")[-1]] += int(count)
        total = sum(own.values()) or 1
        return [(name, round(100 * n / total, 1)) for name, n in own.most_common(limit)]


class Command(BaseCommand):
    """Load test of the streaming endpoints with concurrent simulated listeners."""

    help = (
        "Run N concurrent streaming sessions against a Daphne server this command starts "
        "(or --url), measure time to first audio, pipeline overhead, underruns for a "
        "real-time listener, errors, server CPU and memory, and write a JSON result. "
        "Meanwhile one more connection (the probe) pings the server every 50 ms: "
        "server_probe_ms is its round trips (p50, p99, max, n), how long a message waited "
        "for the server's event loop. With a server started here, rss_by_round_mb is its "
        "RSS as each round ended and rss_growth_ratio the last over the first. "
        "--capacity instead measures Piper's compute ceiling and searches the largest N "
        "of paced listeners served without gaps."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The options (see ``--help``)."""
        standard = SCENARIOS["standard"]
        parser.add_argument("--sessions", type=int, default=10,
                            help="concurrent sessions (default 10; --capacity searches it)")
        parser.add_argument("--ramp", type=float, default=2.0,
                            help="seconds over which session starts are spread evenly "
                                 "(default 2; --capacity uses one reply's audio duration)")
        parser.add_argument("--rounds", type=int, default=1,
                            help="streams each session runs back to back, a new connection "
                                 "each (default 1); with 2 or more round 1 is the warm-up of "
                                 "the steady state and only rounds 2.. are counted; the "
                                 "server's RSS is reported as each round ends")
        parser.add_argument("--endpoint", choices=("tts", "voicebot"), default="tts")
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="standard",
                            help="standard: LLM first token 300 ms, 40 tokens/s, ~80 words; "
                                 "TTS first byte 150 ms, 5x real time, 100 ms frames, 24 kHz. "
                                 "slow-tts: standard with TTS first byte 2,500 ms")
        parser.add_argument("--llm-first-token-ms", type=float,
                            help=f"default {standard.llm_first_token_ms:g}")
        parser.add_argument("--llm-tokens-per-s", type=float,
                            help=f"default {standard.llm_tokens_per_s:g}")
        parser.add_argument("--words", type=int, help=f"reply length, default {standard.words}")
        parser.add_argument("--tts-first-byte-ms", type=float,
                            help=f"default {standard.tts_first_byte_ms:g}")
        parser.add_argument("--tts-rtf", type=float,
                            help=f"TTS speed in x real time, default {standard.tts_rtf:g}")
        parser.add_argument("--tts", choices=("simulated", "piper"), default="simulated",
                            help="piper: the real voice (TTS options do not apply)")
        parser.add_argument("--sequential", action="store_true",
                            help="the naive design: no synthesis until the whole text is in")
        parser.add_argument("--compare", action="store_true",
                            help="run parallel then sequential; print the TTFA median ratio")
        parser.add_argument("--paced", action="store_true",
                            help="send `played` every 250 ms from the simulated playout clock")
        parser.add_argument("--jitter-ms", type=float, default=100.0,
                            help="the simulated listener's jitter buffer (default 100)")
        parser.add_argument("--warmup", type=int,
                            help="sessions run (and not counted) before the measured ones "
                                 "(default 1; 0 with --capacity, whose round 1 warms up)")
        parser.add_argument("--timeout", type=float, default=120.0,
                            help="seconds a session may take before it counts as an error")
        parser.add_argument("--scheduling", choices=(*POLICIES, "both"),
                            help="the server's LOCAL_SCHEDULING, the order of the Piper "
                                 "pool's jobs (default: not set, the server's default); "
                                 "both: run fifo then deadline and report them side by side")
        parser.add_argument("--capacity", action="store_true",
                            help="with --tts piper, implies --paced: measure the compute "
                                 "ceiling (audio s per wall s of Piper's workers, in this "
                                 "process), then search the most sessions (--rounds 2 or "
                                 "more) with no underrun, no error and client TTFA p95 <= "
                                 "--ttfa-p95-ms")
        parser.add_argument("--ttfa-p95-ms", type=float, default=1000.0,
                            help="--capacity: the client TTFA p95 a probe may reach "
                                 "(default 1000)")
        parser.add_argument("--max-probes", type=int, default=7,
                            help="--capacity: most probe runs per scheduling policy "
                                 "(default 7)")
        parser.add_argument("--url", help="ws://host:port of a running deployment "
                                          "(no server is started; the scenario is not set)")
        parser.add_argument("--database", default="auto",
                            help="server database: auto (DATABASE_URL if set, else a "
                                 "throwaway SQLite file), sqlite, or a database URL")
        parser.add_argument("--asgi", default="voicebot_site.asgi:application",
                            help="the ASGI application Daphne serves (to A/B a server change)")
        parser.add_argument("--output", type=Path, help="JSON result (loadtest-<time>.json)")
        parser.add_argument("--profile", type=Path,
                            help="py-spy the server during the sessions into this file "
                                 "(.txt raw stacks + top list, .json speedscope, else SVG)")

    def handle(self, *args: Any, **opts: Any) -> None:
        """Run the load test (both modes with ``--compare``, both policies with
        ``--scheduling both``, a capacity search with ``--capacity``) and report."""
        scenario = self.scenario(opts)
        if opts["warmup"] is None:
            opts["warmup"] = 0 if opts["capacity"] else 1
        output = Path(opts["output"] or f"loadtest-{datetime.now():%Y%m%d-%H%M%S}.json")
        try:
            if opts["capacity"]:
                document = self.capacity(opts, scenario)
            elif opts["scheduling"] == "both":
                results = {policy: self.run_mode(opts | {"scheduling": policy}, scenario,
                                                 sequential=opts["sequential"])
                           for policy in POLICIES}
                self.side_by_side(results)
                document = {"scheduling": results}
            elif opts["compare"]:
                results = {label: self.run_mode(opts, scenario, sequential=sequential)
                           for label, sequential in (("parallel", False), ("sequential", True))}
                self.side_by_side(results)
                par = results["parallel"]["summary"]["client_ttfa_ms"]["p50"]
                seq = results["sequential"]["summary"]["client_ttfa_ms"]["p50"]
                ratio = round(par / seq, 3) if par and seq else None
                self.stdout.write(f"TTFA median ratio parallel / sequential: {ratio} "
                                  f"({par} ms / {seq} ms)")
                document = {"compare": {**results, "ttfa_p50_ratio": ratio}}
            else:
                document = self.run_mode(opts, scenario, sequential=opts["sequential"])
        except KeyboardInterrupt:
            raise CommandError("interrupted (the server was stopped)") from None
        output.write_text(json.dumps(document, indent=1))
        self.stdout.write(f"result: {output}")

    def scenario(self, opts: dict) -> Scenario:
        """The scenario with the command-line overrides; checks the numbers."""
        overrides = {
            "llm_first_token_ms": opts["llm_first_token_ms"],
            "llm_tokens_per_s": opts["llm_tokens_per_s"],
            "words": opts["words"],
            "tts_first_byte_ms": opts["tts_first_byte_ms"],
            "tts_rtf": opts["tts_rtf"],
        }
        if opts["tts"] == "piper" and (opts["tts_first_byte_ms"] is not None
                                       or opts["tts_rtf"] is not None):
            raise CommandError("--tts-first-byte-ms and --tts-rtf do not apply to --tts piper")
        scenario = replace(SCENARIOS[opts["scenario"]],
                           **{k: v for k, v in overrides.items() if v is not None})
        checks = [
            (opts["sessions"] >= 1, "--sessions must be at least 1"),
            (opts["rounds"] >= 1, "--rounds must be at least 1"),
            (opts["max_probes"] >= 1, "--max-probes must be at least 1"),
            (opts["ttfa_p95_ms"] > 0, "--ttfa-p95-ms must be positive"),
            (opts["ramp"] >= 0, "--ramp must not be negative"),
            (opts["timeout"] > 0, "--timeout must be positive"),
            (opts["warmup"] is None or opts["warmup"] >= 0, "--warmup must not be negative"),
            (opts["jitter_ms"] >= 0, "--jitter-ms must not be negative"),
            (scenario.words >= 1, "--words must be at least 1"),
            (scenario.llm_tokens_per_s > 0, "--llm-tokens-per-s must be positive"),
            (scenario.llm_first_token_ms >= 0, "--llm-first-token-ms must not be negative"),
            (scenario.tts_first_byte_ms >= 0, "--tts-first-byte-ms must not be negative"),
            (scenario.tts_rtf > 0, "--tts-rtf must be positive"),
            (not (opts["url"] and opts["profile"]), "--profile needs the server started here"),
            (not (opts["url"] and (opts["sequential"] or opts["compare"])),
             "--sequential and --compare need the server started here (not --url)"),
            (not (opts["url"] and opts["scheduling"]),
             "--scheduling needs the server started here (not --url)"),
            (not (opts["compare"] and opts["scheduling"] == "both"),
             "--compare and --scheduling both cannot be combined: run them one at a time"),
            (not opts["capacity"] or opts["tts"] == "piper", "--capacity needs --tts piper"),
            (not (opts["capacity"] and (opts["url"] or opts["profile"])),
             "--capacity needs the server started here and no --profile"),
            (not (opts["capacity"] and (opts["sequential"] or opts["compare"])),
             "--capacity measures the parallel design: not with --sequential or --compare"),
        ]
        for ok, message in checks:
            if not ok:
                raise CommandError(message)
        if opts["url"] and not opts["url"].startswith(("ws://", "wss://")):
            raise CommandError("--url must be ws://host:port or wss://host:port")
        return scenario

    def server_env(self, opts: dict, scenario: Scenario, *, sequential: bool,
                   workdir: Path) -> tuple[dict[str, str], str]:
        """The server's environment and a label of its database."""
        env = dict(os.environ) | scenario.server_env() | UNLIMITED_ACCESS_ENV | {
            "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "STREAMING_STORE_AUDIO": "0",
            "STREAMING_HIDDEN_PROVIDERS": "1",  # the simulated voice
            "STREAMING_SEQUENTIAL": "1" if sequential else "0",
            "LLM_PROVIDER": "simulated",
            "TTS_PROVIDER": opts["tts"],  # what a connection warms up
            "MEDIA_ROOT": str(workdir / "media"),
            "PYTHONUNBUFFERED": "1",
        }
        if opts["scheduling"]:
            env["LOCAL_SCHEDULING"] = opts["scheduling"]
        database = opts["database"]
        if database == "auto":
            database = "url" if os.environ.get("DATABASE_URL") else "sqlite"
        elif database not in ("sqlite",):
            if "://" not in database:
                raise CommandError("--database must be auto, sqlite or a database URL")
            env["DATABASE_URL"] = database
            database = "url"
        if database == "sqlite":
            env.pop("DATABASE_URL", None)
            env["SQLITE_PATH"] = str(workdir / "loadtest.sqlite3")
            return env, "sqlite (throwaway)"
        return env, env["DATABASE_URL"].split("://", 1)[0] + " (DATABASE_URL)"

    def run_mode(self, opts: dict, scenario: Scenario, *, sequential: bool) -> dict:
        """One run: start the server (unless ``--url``), run the sessions, report."""
        config = ClientConfig(
            base_url=opts["url"] or "", endpoint=opts["endpoint"], tts=opts["tts"],
            sessions=opts["sessions"], ramp_s=opts["ramp"], timeout_s=opts["timeout"],
            paced=opts["paced"], jitter_ms=opts["jitter_ms"], scenario=scenario,
            rounds=opts["rounds"],
        )
        info: dict = {
            "started_at": datetime.now(UTC).isoformat(),
            "sessions": config.sessions, "ramp_s": config.ramp_s, "endpoint": config.endpoint,
            "tts": config.tts, "mode": "sequential" if sequential else "parallel",
            "paced": config.paced, "jitter_ms": config.jitter_ms, "warmup": opts["warmup"],
            "timeout_s": config.timeout_s, "scenario_name": opts["scenario"],
            "rounds": config.rounds, "counted_rounds": _counted_rounds(config.rounds),
            "scheduling": None if opts["url"] else (
                opts["scheduling"] or piper_options().get("scheduling") or "server default"),
            "asgi": None if opts["url"] else opts["asgi"],
            "scenario": vars(scenario) | ({"tts": "piper (real)"} if config.tts == "piper"
                                          else {}),
        }
        if config.tts == "piper" and not opts["url"]:
            info["piper_options"] = piper_options(opts["scheduling"])
        if opts["url"]:
            info |= {"server": opts["url"], "server_started": False}
            self.stdout.write(
                f"target {opts['url']}: a running deployment. The scenario cannot be set on "
                "its server (it keeps its own SIMULATED_* and STREAMING_* settings, incl. "
                "sequential mode); the client still paces the TTS endpoint's text as the "
                "scenario's LLM. Server CPU, memory and records are not measured.")
            run = asyncio.run(run_load(config, warmup=opts["warmup"]))
            return self.report(info, run, None)
        with tempfile.TemporaryDirectory(prefix="loadtest-") as tmp:
            workdir = Path(tmp)
            env, db_label = self.server_env(opts, scenario, sequential=sequential,
                                            workdir=workdir)
            server = ServerProcess(env, workdir, opts["asgi"])
            profiler: Profiler | None = None
            try:
                server.start()
                info |= {"server": server.url, "server_started": True, "database": db_label,
                         "channel_layer": "redis" if env.get("REDIS_URL") else "memory",
                         "server_pid": server.proc.pid}
                config = replace(config, base_url=server.url)
                since = datetime.now(UTC).isoformat()
                if opts["profile"]:
                    profiler = Profiler(server.proc.pid, Path(opts["profile"]))
                run = asyncio.run(run_load(
                    config, server_pid=server.proc.pid, warmup=opts["warmup"],
                    before_sessions=profiler.start if profiler else None))
                if profiler:
                    profiler.stop()
                records = server.records(
                    since=since, kind=config.endpoint,
                    ids=[r.session_id for r in run.all_rows if r.session_id],
                    exclude=[r.session_id for r in run.warmup if r.session_id])
                server_log = server.log(60) if any(r.errors for r in run.all_rows) else ""
            except subprocess.TimeoutExpired as exc:
                raise CommandError(f"{exc}\n{server.log()}") from exc
            finally:
                if profiler:
                    profiler.stop()
                server.stop()
            if server.proc and server.proc.returncode not in (0, -signal.SIGTERM, None):
                self.stderr.write(f"daphne exited with {server.proc.returncode}:\n{server.log()}")
        records["expected"] = config.sessions * config.rounds  # every stream of every round
        records["final"] = sum(n for s, n in records["by_status"].items() if s != "running")
        records["lost"] = records["expected"] - records["final"]
        result = self.report(info, run, records)
        if server_log:
            result["server_log_tail"] = server_log.splitlines()
            self.stdout.write("sessions failed: the server log's tail is in the result file")
        if profiler:
            result["profile"] = {"path": str(profiler.path), "top_self": profiler.top()}
            self.print_profile(result["profile"])
        return result

    def report(self, info: dict, run: LoadRun, records: dict | None) -> dict:
        """Print the tables and return the JSON document of a run."""
        summary = summarize(run.rows)
        result = {"config": info, "summary": summary, "server": run.server,
                  "client": run.client, "records": records, "wall_s": run.wall_s,
                  "max_active_sessions": run.max_active, **run.probe,
                  "rss_by_round_mb": run.rss_by_round_mb,
                  "rss_growth_ratio": rss_growth(run.rss_by_round_mb),
                  "sessions": rows_as_dicts(run.rows),
                  "round1_sessions": rows_as_dicts(run.round1),
                  "warmup_sessions": rows_as_dicts(run.warmup)}
        w = self.stdout.write
        w(f"\nloadtest: {info['sessions']} sessions, {info['endpoint']} endpoint, "
          f"{info['tts']} TTS, {info['mode']}{', paced' if info['paced'] else ''}, "
          f"ramp {info['ramp_s']:g} s, scenario {info['scenario_name']}, "
          f"scheduling {info['scheduling']}, "
          f"server {info['server']}{' (started here)' if info['server_started'] else ''}")
        if info["rounds"] > 1:
            w(f"rounds: {info['rounds']} streams per session; counted: rounds "
              f"{info['counted_rounds']} ({len(run.rows)} streams), round 1 is the warm-up "
              f"of the steady state ({len(run.round1)} streams)")
        w(f"{'metric':<26}{''.join(f'{q:>10}' for q in QUANTILES)}{'n':>6}")
        for key, label in TABLE:
            s = summary[key]
            cells = "".join(f"{format_ms(s[q]):>10}" for q in QUANTILES)
            w(f"{label:<26}{cells}{s['n']:>6}")
        w(f"completed: {summary['completed']} / {summary['sessions']} sessions; "
          f"errors: {summary['sessions_with_errors']} sessions{_kinds(summary['error_kinds'])}; "
          f"underruns: {summary['underruns_total']} in {summary['sessions_with_underruns']} "
          f"sessions; max concurrent: {run.max_active}; wall {run.wall_s:g} s")
        if summary["shortest_segment"]["text"]:
            shortest = summary["shortest_segment"]
            w(f"shortest segment: {shortest['words']} words ({shortest['text']!r})")
        if run.server:
            s = run.server
            w(f"server: CPU mean {s['cpu_mean_percent']}% (peak {s['cpu_peak_percent']}%), "
              f"RSS baseline {s['rss_baseline_mb']} MB, peak {s['rss_peak_mb']} MB, "
              f"{s['rss_per_session_mb'] * 1024:.1f} KB per concurrent session")
        if run.rss_by_round_mb is None:
            w("server RSS by round: unknown (--url: the server's process is not known here)")
        else:
            ratio = result["rss_growth_ratio"]
            w(f"server RSS at the end of each round: "
              f"{', '.join(f'{mb:g}' for mb in run.rss_by_round_mb)} MB"
              f"{f'; last / first {ratio:.3f}' if ratio is not None else ''}")
        w(probe_line(result["server_probe_ms"], result["server_probe"]["errors"]))
        c = run.client
        w(f"client: CPU mean {c['cpu_mean_percent']}%, event-loop lag p50 "
          f"{format_ms(c['loop_lag_ms']['p50'])} ms, p99 {format_ms(c['loop_lag_ms']['p99'])} ms, "
          f"max {format_ms(c['loop_lag_ms']['max'])} ms; machine: CPU mean "
          f"{c['machine_cpu_mean_percent']}% of {c['machine_cores'] * 100}% "
          f"(server + client + any other process)")
        if records is not None:
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(records["by_status"].items()))
            missing = len(records.get("missing_ids", []))
            w(f"records: {records['final']} / {records['expected']} ({statuses or 'none'}"
              f"{f'; {missing} session ids without a record' if missing else ''})")
        return result

    def side_by_side(self, results: dict[str, dict]) -> None:
        """Print the main figures of runs (by label) in one table."""
        w = self.stdout.write
        w(f"\n{'':<26}{''.join(f'{label:>14}' for label in results)}")
        for label, key, stat in SIDE_BY_SIDE:
            values = [r["summary"][key] if stat is None else r["summary"][key][stat]
                      for r in results.values()]
            w(f"{label:<26}{''.join(f'{format_ms(v):>14}' for v in values)}")

    def capacity(self, opts: dict, scenario: Scenario) -> dict:
        """``--capacity``: ceiling and capacity search per policy; with ``--scheduling
        both`` also both policies' TTFA p95 at the deadline policy's capacity."""
        policies = list(POLICIES) if opts["scheduling"] == "both" else [opts["scheduling"]]
        rounds = max(2, opts["rounds"])
        section: dict[str, Any] = {
            "ttfa_p95_limit_ms": opts["ttfa_p95_ms"], "rounds": rounds,
            "max_probes": opts["max_probes"], "words": scenario.words, "policies": {},
        }
        for policy in policies:
            section["policies"][policy or "default"] = self.search(opts, scenario, policy,
                                                                   rounds)
        w = self.stdout.write
        w("")
        for name, found in section["policies"].items():
            bound = "" if found["capacity_exact"] else " (a lower bound: out of probes" + (
                f"; {found['first_failed']} failed)" if found["first_failed"] else ")")
            w(f"{name}: capacity {found['capacity']} / ceiling "
              f"{found['ceiling_x_realtime']:g} = {found['ratio']}{bound}")
        if opts["scheduling"] == "both":
            section["at_deadline_capacity"] = self.at_deadline_capacity(
                opts, scenario, section["policies"], rounds)
        return {"capacity": section}

    def search(self, opts: dict, scenario: Scenario, policy: str | None,
               rounds: int) -> dict:
        """One policy: its ceiling, then the capacity search (see ``search_capacity``)."""
        name = policy or "default"
        self.stdout.write(f"\n[{name}] ceiling: Piper in this process, every worker busy "
                          f"for ~{CEILING_SECONDS:g} s ...")
        ceiling = piper_ceiling(words=scenario.words, scheduling=policy)
        x_realtime = ceiling["x_realtime"]
        ramp = ceiling["audio_s_per_reply"]
        self.stdout.write(
            f"[{name}] ceiling {x_realtime:g} x real time ({ceiling['audio_s']:g} s of audio "
            f"in {ceiling['wall_s']:g} s, {ceiling['workers']} workers, options "
            f"{ceiling['options']}); one reply is {ramp:g} s of audio (the probes' ramp)")
        probes: dict[int, dict] = {}

        def probe(n: int) -> bool:
            probes[n] = self.probe(opts, scenario, policy, sessions=n, ramp=ramp,
                                   rounds=rounds)
            return probes[n]["passed"]

        start = max(1, round(0.5 * x_realtime))
        capacity, order = search_capacity(probe, start, max_probes=opts["max_probes"])
        return {
            "policy": name, "ceiling_x_realtime": x_realtime, "ceiling": ceiling,
            "ramp_s": ramp, "start": start, "probes": [probes[n] for n, _ in order],
            "capacity": capacity,
            # exact when capacity + 1 was probed and failed, else a lower bound (probe cap)
            "capacity_exact": (capacity + 1, False) in order,
            "first_failed": min((n for n, ok in order if not ok), default=None),
            "ratio": round(capacity / x_realtime, 3) if x_realtime else None,
        }

    def probe(self, opts: dict, scenario: Scenario, policy: str | None, *, sessions: int,
              ramp: float, rounds: int) -> dict:
        """One paced run of ``sessions`` sessions x ``rounds``; its verdict and figures."""
        result = self.run_mode(
            opts | {"sessions": sessions, "ramp": ramp, "rounds": rounds, "paced": True,
                    "scheduling": policy}, scenario, sequential=False)
        summary = result["summary"]
        passed = probe_verdict(summary, opts["ttfa_p95_ms"])
        ttfa = summary["client_ttfa_ms"]
        machine = result["client"]["machine_cpu_mean_percent"]  # tells a disturbed probe
        self.stdout.write(
            f"[{policy or 'default'}] probe N={sessions}: TTFA p50 {format_ms(ttfa['p50'])} / p95 "
            f"{format_ms(ttfa['p95'])} ms, underruns {summary['underruns_total']}, errors "
            f"{summary['sessions_with_errors']}, machine CPU {format_ms(machine)}%: "
            f"{'PASS' if passed else 'FAIL'}")
        return {"sessions": sessions, "passed": passed,
                "client_ttfa_ms": {q: ttfa[q] for q in ("p50", "p95")},
                "underruns": summary["underruns_total"],
                "sessions_with_errors": summary["sessions_with_errors"],
                "records_lost": (result["records"] or {}).get("lost"),
                "machine_cpu_mean_percent": machine, "result": result}

    def at_deadline_capacity(self, opts: dict, scenario: Scenario, found: dict[str, dict],
                             rounds: int) -> dict:
        """Both policies' TTFA p95 at the deadline policy's capacity (FIFO probed there
        if its search did not)."""
        sessions = found["deadline"]["capacity"]
        if sessions < 1:
            self.stdout.write("deadline: no capacity to compare the policies at")
            return {"sessions": 0, "ttfa_p95_ms": {}, "extra_probe": None}
        at = {name: next((p for p in found[name]["probes"] if p["sessions"] == sessions), None)
              for name in POLICIES}
        extra = None
        if at["fifo"] is None:
            extra = at["fifo"] = self.probe(opts, scenario, "fifo", sessions=sessions,
                                            ramp=found["fifo"]["ramp_s"], rounds=rounds)
        p95 = {name: at[name]["client_ttfa_ms"]["p95"] for name in POLICIES}
        self.stdout.write(f"at N={sessions} (deadline capacity): TTFA p95 deadline "
                          f"{format_ms(p95['deadline'])} ms, fifo {format_ms(p95['fifo'])} ms")
        return {"sessions": sessions, "ttfa_p95_ms": p95, "extra_probe": extra}

    def print_profile(self, profile: dict) -> None:
        """The server's hottest functions (self time) during the sessions."""
        self.stdout.write(f"profile: {profile['path']}")
        for name, share in profile["top_self"]:
            self.stdout.write(f"  {share:5.1f}%  {name}")


def rss_growth(rss_by_round_mb: list[float] | None) -> float | None:
    """The server's RSS after the last round / after the first (None without two rounds)."""
    if not rss_by_round_mb or len(rss_by_round_mb) < 2 or not rss_by_round_mb[0]:
        return None
    return round(rss_by_round_mb[-1] / rss_by_round_mb[0], 3)


def _counted_rounds(rounds: int) -> str:
    return "1" if rounds == 1 else f"2-{rounds}"


def _kinds(kinds: dict[str, int]) -> str:
    return f" ({', '.join(f'{k} x{n}' for k, n in kinds.items())})" if kinds else ""
