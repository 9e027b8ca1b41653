"""``manage.py replay_session <id>``: re-run one stored session through the current engine."""
from __future__ import annotations

from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError

from streaming import replay
from streaming.models import StreamSession
from streaming.stats import format_ms


class Command(BaseCommand):
    """Replay a session's recorded input text through a TTS and store it as a new session."""

    help = (
        "Re-run a stored session through the current streaming engine: its recorded input "
        "text (a voicebot turn's LLM answer) is fed all at once (--speed fast) or with its "
        "recorded delta timing (--speed realtime) through the chosen TTS. The replay is "
        "stored as a new session linked to the original (replay_of); its id is printed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """The session id and the replay's options."""
        parser.add_argument("session_id",
                            help="The session to replay: its UUID, or the start of it that no "
                                 "other session's id shares (the admin shows 8 characters).")
        parser.add_argument("--tts", metavar="ALIAS",
                            help="TTS provider alias (default: the original's provider).")
        parser.add_argument("--voice", metavar="V",
                            help="Voice (default: the original's voice when the provider is "
                                 "the same, else the provider's default voice).")
        parser.add_argument("--speed", choices=replay.SPEEDS, default=replay.FAST,
                            help="fast: the whole text at once (default); realtime: each "
                                 "delta at its recorded offset from the first.")
        parser.add_argument("--output", metavar="OUT.WAV",
                            help="Write the replay's audio to this WAV file.")
        parser.add_argument("--compare", action="store_true",
                            help="Print both sessions' metrics side by side.")

    def handle(self, *args: object, **options: object) -> None:
        """Replay, store, write the WAV and report; problems become ``CommandError``."""
        try:
            self.replay(options)
        except replay.ReplayError as exc:
            raise CommandError(str(exc)) from None

    def replay(self, options: dict) -> None:
        """The command's work, raising ``ReplayError`` on any problem."""
        original = replay.load_original(options["session_id"])
        output = replay.check_output(options["output"]) if options["output"] else None

        async def resolve_and_replay() -> tuple[replay.TTSChoice, replay.Replay]:
            choice = await replay.resolve_tts(original, options["tts"], options["voice"])
            return choice, await replay.replay(original, choice, speed=options["speed"])

        choice, done = replay.run(resolve_and_replay())
        result = done.result
        quiet = options["verbosity"] == 0
        if quiet:
            self.stdout.write(str(done.session_id))
        else:
            voice = f", voice {choice.voice}" if choice.voice else ""
            self.stdout.write(f"Replay of {original.id} ({choice.alias}{voice}, "
                              f"{options['speed']}): {result.status}")
            self.stdout.write(f"session {done.session_id}")
        if done.failed:
            self.stderr.write(f"error: {result.error}")
            raise replay.ReplayError(f"replay {done.session_id} failed: {result.error} "
                                     "(its record is stored)")
        if output is not None:
            replay.write_wav(output, done.audio, choice.sample_rate)
            if not quiet:
                self.stdout.write(f"audio: {output} ({result.metrics['audio_ms'] / 1000:.2f} s,"
                                  f" {choice.sample_rate} Hz)")
        if not quiet and not options["compare"]:
            metrics = result.metrics
            self.stdout.write(f"ttfa {format_ms(metrics['ttfa_ms'], unit=' ms')}, overhead "
                              f"{format_ms(metrics['overhead_ms'], unit=' ms')}, "
                              f"{metrics['segments']} segments")
        if options["compare"]:
            replayed = StreamSession.objects.get(id=done.session_id)
            self.stdout.write("")
            for line in replay.compare_lines(original, replayed):
                self.stdout.write(line)
