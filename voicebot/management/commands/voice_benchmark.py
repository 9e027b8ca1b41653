"""``manage.py voice_benchmark``: the offline voice agent measured like a user (see
``voicebot.voicebench``)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.protocols import ProviderError
from voicebot import voicebench as vb
from voicebot.management.benchmarks import offline_server, write_result

DEFAULT_OUTPUT = "voice-benchmark.json"


class Command(BaseCommand):
    """Spoken and typed turns against the voicebot endpoint, timed on the client."""

    help = (
        "Start a Daphne server of this project with the embedded offline engines (local LLM, "
        "Whisper, Piper; throwaway SQLite) or use --url, then measure it like a user, one "
        "turn at a time on a fresh connection each: spoken turns (Piper speech sent as 100 ms "
        "frames in real time; voice-to-voice = first audio frame received - audio_end sent; "
        "target p50 <= 1 s) and typed turns (share of multi-sentence answers whose audio "
        "started before the last LLM delta; target >= 90%). Meanwhile one more connection "
        "(the probe) pings the server every 50 ms: server_probe_ms is its round trips (p50, "
        "p99, max, n) during the turns, how long a message waited for the server's event "
        "loop; server_probe_by_phase_ms the same while Whisper transcribed and while the "
        "LLM and Piper answered. --long-turn-seconds adds one long spoken turn. Prints "
        "tables; --output writes the JSON result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The options (see ``--help``)."""
        parser.add_argument("--spoken", type=int, default=20,
                            help=f"spoken turns (default 20; the {len(vb.QUESTIONS)} fixed "
                                 "questions, repeated beyond that)")
        parser.add_argument("--typed", type=int, default=20,
                            help=f"typed turns (default 20; the {len(vb.PROMPTS)} fixed "
                                 "prompts, repeated beyond that)")
        parser.add_argument("--warmup", type=int, default=1,
                            help="typed turns run first and not counted (default 1)")
        parser.add_argument("--timeout", type=float, default=60.0,
                            help="seconds a turn may take before it counts as failed "
                                 "(default 60)")
        parser.add_argument("--long-turn-seconds", type=float, default=0.0,
                            help="also one spoken turn of this many seconds (the questions "
                                 "back to back, then silence; at most VOICEBOT_MAX_AUDIO_"
                                 "SECONDS, 30 by default), reported apart with the probe "
                                 "while Whisper transcribes it (default 0: none)")
        parser.add_argument("--url", help="ws://host:port of a running server (default: "
                                          "start one here)")
        parser.add_argument("--output", nargs="?", const=DEFAULT_OUTPUT,
                            help=f"write the JSON result here (bare --output: {DEFAULT_OUTPUT}"
                                 " in the current directory; default: not written)")

    def handle(self, *args: object, **opts: object) -> None:
        """Speak the questions, run the turns against the server, print, write, report."""
        spoken, typed, warmup = int(opts["spoken"]), int(opts["typed"]), int(opts["warmup"])
        timeout, url = float(opts["timeout"]), opts["url"]
        long_s = float(opts["long_turn_seconds"])
        max_audio_s = settings.VOICEBOT["MAX_AUDIO_SECONDS"]
        checks = [
            (spoken >= 0 and typed >= 0 and warmup >= 0,
             "--spoken, --typed and --warmup must not be negative"),
            (spoken + typed >= 1 or long_s > 0,
             "nothing to measure: --spoken and --typed are both 0"),
            (timeout > 0, "--timeout must be positive"),
            (long_s >= 0, "--long-turn-seconds must not be negative"),
            (url or long_s <= max_audio_s,
             f"--long-turn-seconds: the server takes {max_audio_s} s of speech at most "
             "(VOICEBOT_MAX_AUDIO_SECONDS)"),
            (not url or str(url).startswith(("ws://", "wss://")),
             "--url must be ws://host:port or wss://host:port"),
        ]
        for ok, message in checks:
            if not ok:
                raise CommandError(message)
        questions = vb.cycle(vb.QUESTIONS, spoken)
        prompts = vb.cycle(vb.PROMPTS, typed)
        config = {
            "started_at": datetime.now(UTC).isoformat(), "spoken": spoken, "typed": typed,
            "warmup": warmup, "timeout_s": timeout, "tts": vb.TTS, "mic_rate": vb.MIC_RATE,
            "frame_ms": vb.FRAME_MS, "trailing_silence_ms": vb.TRAILING_SILENCE_MS,
            "paced": "real time", "server": url, "server_started": not url,
            "long_turn_seconds": long_s,
        }
        machine = vb.machine_info()
        try:
            # Before the server starts, so the client's Piper does not compete with it.
            speech, long = asyncio.run(self.speak(questions, long_s))
        except (ImproperlyConfigured, ProviderError) as exc:
            raise CommandError(f"Piper could not speak the questions: {exc}") from exc
        self.stderr.write(f"spoke {len(speech)} questions with Piper"
                          + (f", and a {long_s:g} s turn" if long else ""))
        say = self.stderr.write
        kwargs = {"speech": speech, "questions": questions, "prompts": prompts,
                  "warmup": warmup, "timeout_s": timeout, "long": long, "progress": say}
        env_report, server_log = None, ""
        try:
            if url:
                run = asyncio.run(vb.run_benchmark(str(url), **kwargs))
            else:
                with offline_server(self.stderr.write) as server:
                    env_report = vb.env_report(server.env)
                    config["server"] = server.url
                    run = asyncio.run(vb.run_benchmark(server.url, **kwargs))
                    if run.failed or any(not r.ok for r in run.warmup):
                        server_log = server.log(60)
        except KeyboardInterrupt:
            raise CommandError("interrupted") from None
        machine["loadavg_end"] = vb.machine_info()["loadavg"]
        result = vb.document(run, config=config, machine=machine, env=env_report,
                             server_log=server_log)
        self.report(result, run)
        if opts["output"]:
            path = write_result(opts["output"], result)
            self.stdout.write(f"result: {path}")

    async def speak(self, questions: list[str],
                    long_s: float) -> tuple[dict[str, bytes], vb.LongTurn | None]:
        """The questions and the long turn (if any) spoken by one Piper voice."""
        if not questions and not long_s:
            return {}, None
        tts = vb.piper_tts()
        speech = await vb.speak(questions, tts)
        if not long_s:
            return speech, None
        try:
            return speech, await vb.speak_long_turn(long_s, speech, tts)
        except ValueError as exc:  # not one question fits
            raise CommandError(f"--long-turn-seconds: {exc}") from exc

    def report(self, result: dict, run: vb.BenchmarkRun) -> None:
        """Print the tables and the totals."""
        w = self.stdout.write
        m = result["machine"]
        w(f"\nvoice benchmark: server {result['config']['server']}"
          f"{' (started here)' if result['config']['server_started'] else ''}; "
          f"{m['nproc']} cores, {m['cpu_model']}; load average {m['loadavg']} at the start, "
          f"{m['loadavg_end']} at the end; wall {run.wall_s:g} s")
        if run.spoken:
            w(f"\nspoken turns ({len(run.spoken)})")
            w(vb.spoken_table(run.spoken, result["spoken"]["summary"]))
        if run.typed:
            w(f"\ntyped turns ({len(run.typed)})")
            w(vb.typed_table(run.typed, result["typed"]["summary"]))
        if run.long_turn:
            w("\n" + vb.long_turn_line(run.long_turn))
        w("\n" + vb.probe_lines(run))
        counted = len(run.spoken) + len(run.typed) + bool(run.long_turn)
        w(f"\nfailed turns: {run.failed} / {counted}"
          + (" (the server log's tail is in the result)" if "server_log_tail" in result
             else ""))
