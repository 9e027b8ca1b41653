"""``manage.py latency_report``: latency percentiles per provider, voice or day."""
from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from streaming.models import StreamSession
from streaming.reports import (
    GROUP_BYS,
    METHOD,
    default_period,
    in_period,
    latency_report,
    metrics,
    text_table,
)


def parse_date(value: str | None, option: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` option value; ``CommandError`` when it is not one."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from exc


class Command(BaseCommand):
    """Print the latency report of the sessions of a period."""

    help = ("Latency percentiles (nearest rank p50/p90/p99 and counts) of TTFA, overhead, "
            "TTS time to first byte and LLM time to first token, per TTS provider, voice or "
            "day, for the sessions created from --since to --until (both included; default: "
            "the last 7 days). Replays are not counted unless --include-replays.")

    def add_arguments(self, parser: CommandParser) -> None:
        """Period, grouping, kind and output format."""
        parser.add_argument("--since", metavar="YYYY-MM-DD",
                            help="first day (default: 6 days before --until)")
        parser.add_argument("--until", metavar="YYYY-MM-DD", help="last day (default: today)")
        parser.add_argument("--by", choices=GROUP_BYS, default="provider",
                            help="grouping (default: provider)")
        parser.add_argument("--kind", choices=[k.value for k in StreamSession.Kind],
                            help="only sessions of this kind")
        parser.add_argument("--include-replays", action="store_true",
                            help="count the sessions stored by replay_session(s) too")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: object, **options: object) -> None:
        """Compute and print the report."""
        since = parse_date(options["since"], "--since")
        until = parse_date(options["until"], "--until")
        default_since, default_until = default_period(until)
        since, until = since or default_since, until or default_until
        if since > until:
            raise CommandError(f"--since ({since}) is after --until ({until})")
        by, kind = str(options["by"]), options["kind"] or None
        replays = bool(options["include_replays"])
        sessions = in_period(StreamSession.objects.all(), since, until, kind,
                             include_replays=replays)
        rows = latency_report(sessions, group_by=by)
        if options["json"]:
            self.stdout.write(json.dumps({
                "since": since.isoformat(), "until": until.isoformat(), "by": by,
                "kind": kind, "include_replays": replays, "percentiles": METHOD,
                "metrics": list(metrics()), "rows": rows,
            }, indent=2, default=str))
            return
        total = sum(row["sessions"] for row in rows)
        self.stdout.write(f"Latency by {by}, {since} to {until}, {kind or 'all kinds'}: "
                          f"{total} sessions, replays {'' if replays else 'not '}counted "
                          f"(ms; {METHOD} percentiles)")
        if rows:
            self.stdout.write(text_table(rows))
        else:
            self.stdout.write("No sessions in this period.")
