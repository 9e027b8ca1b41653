"""``manage.py loadtest``: many concurrent streaming sessions against a real Daphne server.

By default it starts one ``daphne`` process on a free loopback port (throwaway SQLite
database, the scenario's simulated providers set through ``SIMULATED_*`` environment
variables), runs the sessions from this process (``streaming.loadclient``), samples the
server's CPU and memory, checks that every session left its record, prints percentile
tables and writes a JSON result file. ``--url`` targets a running deployment instead.
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

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.loadclient import (
    SCENARIOS,
    ClientConfig,
    LoadRun,
    Scenario,
    rows_as_dicts,
    run_load,
    summarize,
)

READY_TIMEOUT_S = 30.0
RECORD_WAIT_S = 15.0
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
        """Migrate the database, start Daphne and wait until it accepts connections."""
        self.manage("migrate", "--noinput", "-v", "0")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                 self.application],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CommandError(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise CommandError(f"daphne did not accept connections in {READY_TIMEOUT_S:.0f} s:\n"
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
        "real-time listener, errors, server CPU and memory, and write a JSON result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The options (see ``--help``)."""
        standard = SCENARIOS["standard"]
        parser.add_argument("--sessions", type=int, default=10,
                            help="concurrent sessions (default 10)")
        parser.add_argument("--ramp", type=float, default=2.0,
                            help="seconds over which session starts are spread evenly "
                                 "(default 2)")
        parser.add_argument("--endpoint", choices=("tts", "voicebot"), default="tts")
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="standard",
                            help="standard: LLM first token 300 ms, 40 tokens/s, ~80 words; "
                                 "TTS first byte 150 ms, 5x real time, 100 ms frames, 24 kHz")
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
        parser.add_argument("--warmup", type=int, default=1,
                            help="sessions run (and not counted) before the measured ones")
        parser.add_argument("--timeout", type=float, default=120.0,
                            help="seconds a session may take before it counts as an error")
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
        """Run the load test (or both modes with ``--compare``) and report."""
        scenario = self.scenario(opts)
        output = Path(opts["output"] or f"loadtest-{datetime.now():%Y%m%d-%H%M%S}.json")
        modes = [False, True] if opts["compare"] else [opts["sequential"]]
        results = {}
        try:
            for sequential in modes:
                results["sequential" if sequential else "parallel"] = self.run_mode(
                    opts, scenario, sequential=sequential)
        except KeyboardInterrupt:
            raise CommandError("interrupted (the server was stopped)") from None
        if opts["compare"]:
            par = results["parallel"]["summary"]["client_ttfa_ms"]["p50"]
            seq = results["sequential"]["summary"]["client_ttfa_ms"]["p50"]
            ratio = round(par / seq, 3) if par and seq else None
            self.stdout.write(f"\nTTFA median ratio parallel / sequential: {ratio} "
                              f"({par} ms / {seq} ms)")
            document = {"compare": {**results, "ttfa_p50_ratio": ratio}}
        else:
            document = next(iter(results.values()))
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
            (opts["ramp"] >= 0, "--ramp must not be negative"),
            (opts["timeout"] > 0, "--timeout must be positive"),
            (opts["warmup"] >= 0, "--warmup must not be negative"),
            (opts["jitter_ms"] >= 0, "--jitter-ms must not be negative"),
            (scenario.words >= 1, "--words must be at least 1"),
            (scenario.llm_tokens_per_s > 0, "--llm-tokens-per-s must be positive"),
            (scenario.llm_first_token_ms >= 0, "--llm-first-token-ms must not be negative"),
            (scenario.tts_first_byte_ms >= 0, "--tts-first-byte-ms must not be negative"),
            (scenario.tts_rtf > 0, "--tts-rtf must be positive"),
            (not (opts["url"] and opts["profile"]), "--profile needs the server started here"),
            (not (opts["url"] and (opts["sequential"] or opts["compare"])),
             "--sequential and --compare need the server started here (not --url)"),
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
        env = dict(os.environ) | scenario.server_env() | {
            "DJANGO_SETTINGS_MODULE": "voicebot_site.settings",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "STREAMING_STORE_AUDIO": "0",
            "STREAMING_SEQUENTIAL": "1" if sequential else "0",
            "LLM_PROVIDER": "simulated",
            "TTS_PROVIDER": opts["tts"],  # what a connection warms up
            "MEDIA_ROOT": str(workdir / "media"),
            "PYTHONUNBUFFERED": "1",
        }
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
        )
        info: dict = {
            "started_at": datetime.now(UTC).isoformat(),
            "sessions": config.sessions, "ramp_s": config.ramp_s, "endpoint": config.endpoint,
            "tts": config.tts, "mode": "sequential" if sequential else "parallel",
            "paced": config.paced, "jitter_ms": config.jitter_ms, "warmup": opts["warmup"],
            "timeout_s": config.timeout_s, "scenario_name": opts["scenario"],
            "asgi": None if opts["url"] else opts["asgi"],
            "scenario": vars(scenario) | ({"tts": "piper (real)"} if config.tts == "piper"
                                          else {}),
        }
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
                    ids=[r.session_id for r in run.rows if r.session_id],
                    exclude=[r.session_id for r in run.warmup if r.session_id])
                server_log = server.log(60) if any(r.errors for r in run.rows) else ""
            except subprocess.TimeoutExpired as exc:
                raise CommandError(f"{exc}\n{server.log()}") from exc
            finally:
                if profiler:
                    profiler.stop()
                server.stop()
            if server.proc and server.proc.returncode not in (0, -signal.SIGTERM, None):
                self.stderr.write(f"daphne exited with {server.proc.returncode}:\n{server.log()}")
        records["expected"] = config.sessions
        records["final"] = sum(n for s, n in records["by_status"].items() if s != "running")
        records["lost"] = config.sessions - records["final"]
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
                  "max_active_sessions": run.max_active, "sessions": rows_as_dicts(run.rows),
                  "warmup_sessions": rows_as_dicts(run.warmup)}
        w = self.stdout.write
        w(f"\nloadtest: {info['sessions']} sessions, {info['endpoint']} endpoint, "
          f"{info['tts']} TTS, {info['mode']}{', paced' if info['paced'] else ''}, "
          f"ramp {info['ramp_s']:g} s, scenario {info['scenario_name']}, "
          f"server {info['server']}{' (started here)' if info['server_started'] else ''}")
        w(f"{'metric':<26}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}{'n':>6}")
        for key, label in TABLE:
            s = summary[key]
            cells = "".join(f"{_fmt(s[q]):>10}" for q in ("p50", "p90", "p99", "max"))
            w(f"{label:<26}{cells}{s['n']:>6}")
        w(f"completed: {summary['completed']} / {summary['sessions']} sessions; "
          f"errors: {summary['sessions_with_errors']} sessions{_kinds(summary['error_kinds'])}; "
          f"underruns: {summary['underruns_total']} in {summary['sessions_with_underruns']} "
          f"sessions; max concurrent: {run.max_active}; wall {run.wall_s:g} s")
        if run.server:
            s = run.server
            w(f"server: CPU mean {s['cpu_mean_percent']}% (peak {s['cpu_peak_percent']}%), "
              f"RSS baseline {s['rss_baseline_mb']} MB, peak {s['rss_peak_mb']} MB, "
              f"{s['rss_per_session_mb'] * 1024:.1f} KB per concurrent session")
        c = run.client
        w(f"client: CPU mean {c['cpu_mean_percent']}%, event-loop lag p50 "
          f"{_fmt(c['loop_lag_ms']['p50'])} ms, p99 {_fmt(c['loop_lag_ms']['p99'])} ms, "
          f"max {_fmt(c['loop_lag_ms']['max'])} ms; machine: CPU mean "
          f"{c['machine_cpu_mean_percent']}% of {c['machine_cores'] * 100}% "
          f"(server + client + any other process)")
        if records is not None:
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(records["by_status"].items()))
            missing = len(records.get("missing_ids", []))
            w(f"records: {records['final']} / {records['expected']} ({statuses or 'none'}"
              f"{f'; {missing} session ids without a record' if missing else ''})")
        return result

    def print_profile(self, profile: dict) -> None:
        """The server's hottest functions (self time) during the sessions."""
        self.stdout.write(f"profile: {profile['path']}")
        for name, share in profile["top_self"]:
            self.stdout.write(f"  {share:5.1f}%  {name}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _kinds(kinds: dict[str, int]) -> str:
    return f" ({', '.join(f'{k} x{n}' for k, n in kinds.items())})" if kinds else ""
