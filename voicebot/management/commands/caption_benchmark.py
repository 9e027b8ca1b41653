"""``manage.py caption_benchmark``: caption word timings (Piper's exact alignments and the
length-based estimate) measured against Whisper's word timestamps (see
``voicebot.captionbench``)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.engine import EngineConfig
from streaming.protocols import ProviderError
from voicebot import captionbench as cb
from voicebot import voicebench as vb
from voicebot.management.benchmarks import write_result
from voicebot.management.commands.stt_benchmark import WARM_UP_TIMEOUT_S

DEFAULT_OUTPUT = "caption-benchmark.json"


class Command(BaseCommand):
    """Speak the sentences through the engine on Piper, transcribe them with Whisper,
    compare each caption word's start and end with Whisper's."""

    help = (
        f"Stream up to {len(cb.SENTENCES)} fixed English sentences through the engine on "
        "Piper (the caption word timings it sends: Piper's phoneme alignments), transcribe "
        "the same audio with the offline Whisper (16 kHz) and align the caption words to "
        "Whisper's (case and punctuation ignored; only words found in both count). Prints "
        "the error of each word's start and end (caption - Whisper: p50, p90, max of its "
        "size, and the median signed offset) for the exact timings and, on the same audio, "
        "for the length-based estimate the engine uses without them, and the share of words "
        f"matched. Target: exact start p90 <= {cb.TARGET_P90_MS:g} ms. Whisper's own "
        "timestamp error is part of every figure. --write saves the JSON result. Fails when "
        "a model cannot load, Piper gives no timings or a sentence matches no word."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The options (see ``--help``)."""
        parser.add_argument("--sentences", type=int, default=len(cb.SENTENCES),
                            help=f"how many of the {len(cb.SENTENCES)} fixed sentences, from "
                                 "the first (default all)")
        parser.add_argument("--threads", type=int, default=2,
                            help="CTranslate2 CPU threads for Whisper (default 2)")
        parser.add_argument("--write", nargs="?", const=DEFAULT_OUTPUT,
                            help=f"write the JSON result here (bare --write: {DEFAULT_OUTPUT} "
                                 "in the current directory; default: not written)")

    def handle(self, *args: object, **opts: object) -> None:
        """Run, print, write, judge."""
        from voicebot.providers.whisper_stt import WhisperSTT

        count = int(opts["sentences"])
        if not 1 <= count <= len(cb.SENTENCES):
            raise CommandError(f"--sentences must be 1 to {len(cb.SENTENCES)}")
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # per-clip INFO lines
        engine = EngineConfig.from_settings(settings.STREAMING)
        config = {"started_at": datetime.now(UTC).isoformat(), "sentences": count,
                  "tts": "piper", "stt": "whisper", "whisper_threads": int(opts["threads"]),
                  "engine": asdict(engine)}
        machine = vb.machine_info()
        try:
            stt = WhisperSTT(threads=int(opts["threads"]))
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            rows = asyncio.run(self.run(stt, cb.SENTENCES[:count], engine))
        except (ImproperlyConfigured, ProviderError) as exc:
            raise CommandError(f"The benchmark could not run: {exc}") from exc
        finally:
            stt.close()
        machine["loadavg_end"] = vb.machine_info()["loadavg"]
        result = cb.document(rows, config=config, machine=machine)
        self.stderr.write("")
        self.stdout.write(f"{machine['nproc']} cores, {machine['cpu_model']}; load average "
                          f"{machine['loadavg']} at the start, {machine['loadavg_end']} at "
                          "the end")
        self.stdout.write(cb.text_report(result["summary"]))
        if opts["write"]:
            path = write_result(opts["write"], result)
            self.stdout.write(f"result: {path}")
        if result["failures"]:
            raise CommandError("caption benchmark failed: " + "; ".join(result["failures"]))

    async def run(self, stt: object, sentences: tuple[str, ...],
                  engine: EngineConfig) -> list[cb.SentenceRow]:
        """Load Whisper first (so it is ready), then run the benchmark."""
        stt.warm_up()
        if not await asyncio.to_thread(stt.wait_ready, WARM_UP_TIMEOUT_S):
            raise CommandError(f"Whisper could not load: {stt.load_error or 'timed out'}")
        return await cb.run_benchmark(
            vb.piper_tts(), stt, sentences,
            config=engine, progress=lambda row: self.stderr.write(".", ending=""))
