"""``manage.py replay_sessions --since DATE``: replay many sessions and compare latencies."""
from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from streaming import replay
from streaming.models import StreamSession
from streaming.stats import format_ms


def day_start(raw: str, option: str) -> dt.datetime:
    """Midnight (current time zone) of a ``YYYY-MM-DD`` date; ``CommandError`` if bad."""
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, got {raw!r}")
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class Command(BaseCommand):
    """Replay the sessions of a period and print their latency next to the originals'."""

    help = (
        "Replay many stored sessions (newest first, skipping replays and sessions with no "
        "input text), storing each replay, and print the latency distribution (count, p50, "
        "p90, p99, max of ttfa_ms and overhead_ms) of the replays next to the originals'."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Which sessions, and how to replay them."""
        parser.add_argument("--since", required=True, metavar="YYYY-MM-DD",
                            help="First day of sessions to replay.")
        parser.add_argument("--until", metavar="YYYY-MM-DD",
                            help="Last day of sessions to replay (inclusive; default: now).")
        parser.add_argument("--kind", choices=StreamSession.Kind.values,
                            help="Only sessions of this kind.")
        parser.add_argument("--tts", metavar="ALIAS",
                            help="Replay through this TTS provider (default: each "
                                 "session's own).")
        parser.add_argument("--limit", type=int, default=50, metavar="N",
                            help="Most sessions to replay (default 50).")
        parser.add_argument("--speed", choices=replay.SPEEDS, default=replay.FAST,
                            help="fast: each text at once (default); realtime: recorded "
                                 "delta timing.")

    def handle(self, *args: object, **options: object) -> None:
        """Select, replay one by one with a progress line each, then summarize."""
        originals = self.select(options)
        if options["tts"]:  # refuse an unknown provider before replaying anything
            try:
                replay.run(replay.resolve_tts(originals[0], options["tts"]))
            except replay.ReplayError as exc:
                raise CommandError(str(exc)) from None
        rows = replay.run(self.replay_all(originals, options))
        replays = [row for row in rows if row is not None and not row["failed"]]
        failures = len(rows) - len(replays)
        self.stdout.write("")
        self.stdout.write(f"Replayed {len(replays)} of {len(originals)} sessions "
                          f"({options['speed']}).")
        picked = [{name: getattr(o, name) for name in replay.DISTRIBUTED} for o in originals]
        for line in replay.distribution_lines(picked, replays):
            self.stdout.write(line)
        if failures:
            raise CommandError(f"{failures} of {len(originals)} replays failed "
                               "(see the lines above; stored replays keep their error)")

    def select(self, options: dict) -> list[StreamSession]:
        """The sessions to replay, newest first."""
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        since = day_start(options["since"], "--since")
        sessions = StreamSession.objects.filter(replay_of__isnull=True, created_at__gte=since)
        if options["until"]:
            until = day_start(options["until"], "--until")
            if until < since:
                raise CommandError("--until is before --since")
            sessions = sessions.filter(created_at__lt=until + dt.timedelta(days=1))
        if options["kind"]:
            sessions = sessions.filter(kind=options["kind"])
        picked = list(sessions.exclude(input_text="").order_by("-created_at")[:options["limit"]])
        if not picked:
            period = f"since {options['since']}"
            if options["until"]:
                period += f" until {options['until']}"
            kind = f" {options['kind']}" if options["kind"] else ""
            raise CommandError(f"no{kind} sessions to replay {period} (replays and sessions "
                               "without input text are skipped)")
        return picked

    async def replay_all(self, originals: list[StreamSession], options: dict
                         ) -> list[dict | None]:
        """Replay each session in turn (never concurrently: latencies stay comparable)."""
        rows: list[dict | None] = []
        total = len(originals)
        for n, original in enumerate(originals, 1):
            prefix = f"[{n}/{total}] {original.id}"
            try:
                choice = await replay.resolve_tts(original, options["tts"])
                done = await replay.replay(original, choice, speed=options["speed"])
            except replay.ReplayError as exc:
                self.stdout.write(f"{prefix} skipped: {exc}")
                rows.append(None)
                continue
            metrics = done.result.metrics
            line = (f"{prefix} -> {done.session_id} {choice.alias} {done.result.status}: "
                    f"ttfa {format_ms(metrics['ttfa_ms'], unit=' ms')} "
                    f"(was {format_ms(original.ttfa_ms, unit=' ms')})")
            if done.failed:
                line += f" error: {done.result.error}"
            self.stdout.write(line)
            self.stdout.flush()
            rows.append({**{name: metrics.get(name) for name in replay.DISTRIBUTED},
                         "failed": done.failed})
        return rows
