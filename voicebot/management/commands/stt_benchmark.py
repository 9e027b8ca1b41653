"""``manage.py stt_benchmark``: word error rate of the offline Whisper STT on Piper speech."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.protocols import ProviderError
from voicebot.management.benchmarks import write_result
from voicebot.stt_benchmark import SENTENCES, BenchmarkResult, run_benchmark, text_table

WARM_UP_TIMEOUT_S = 120.0


class Command(BaseCommand):
    """Speak the benchmark sentences with Piper, transcribe them with Whisper, score them."""

    help = (f"Synthesize {len(SENTENCES)} fixed English sentences with Piper, transcribe them "
            "with the offline WhisperSTT and print the word error rate per sentence and overall "
            "(after normalization: case, punctuation, numbers digit by digit), then check that 5 "
            "non-speech clips (tone, white and brown noise, silence, coughs) give no words. "
            "Fails when the overall WER is above --max-wer or a non-speech clip gives words.")

    def add_arguments(self, parser: CommandParser) -> None:
        """Threshold, engine threads and JSON output."""
        parser.add_argument("--max-wer", type=float, default=0.05,
                            help="highest acceptable overall WER, as a fraction (default 0.05)")
        parser.add_argument("--threads", type=int, default=2,
                            help="CTranslate2 CPU threads for Whisper (default 2)")
        parser.add_argument("--output", type=Path, help="write the full result as JSON here")

    async def run(self, stt: Any, tts: Any, max_wer: float) -> BenchmarkResult:
        """Load the model first (so no clip's time includes it), then run the benchmark."""
        stt.warm_up()
        if not await asyncio.to_thread(stt.wait_ready, WARM_UP_TIMEOUT_S):
            raise CommandError(f"Whisper could not load: {stt.load_error or 'timed out'}")
        return await run_benchmark(stt, tts, max_wer=max_wer,
                                   progress=lambda row: self.stderr.write(".", ending=""))

    def handle(self, *args: object, **options: object) -> None:
        """Run the benchmark, print the table, write the JSON, judge the result."""
        from tts.providers.piper import PiperTTS
        from voicebot.providers.whisper_stt import WhisperSTT

        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # per-clip INFO lines
        max_wer = float(options["max_wer"])
        try:
            stt = WhisperSTT(threads=int(options["threads"]))
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            result: BenchmarkResult = asyncio.run(self.run(stt, PiperTTS(), max_wer))
        except (ImproperlyConfigured, ProviderError) as exc:
            raise CommandError(f"The benchmark could not run: {exc!r}") from exc
        finally:
            stt.close()
        self.stderr.write("")
        self.stdout.write(text_table(result))
        if options["output"]:
            path = write_result(options["output"], result.as_dict())
            self.stdout.write(f"Result written to {path}")
        if result.failures:
            raise CommandError("STT benchmark failed: " + "; ".join(result.failures))
        self.stdout.write(self.style.SUCCESS(
            f"STT benchmark passed: WER {result.wer:.1%} (max {max_wer:.1%}), "
            f"{len(result.non_speech)}/{len(result.non_speech)} non-speech clips gave no words"))
