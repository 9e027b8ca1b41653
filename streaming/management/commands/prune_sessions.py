"""``manage.py prune_sessions``: delete sessions (or only their audio) past the retention."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from streaming.models import SegmentRecord, StreamSession
from streaming.services import delete_audio_files, delete_sessions
from streaming.signals import sessions_pruned

BATCH_SIZE = 500
DEFAULT_RETENTION_DAYS = 30


def retention_days() -> int:
    """``settings.STREAMING["RETENTION_DAYS"]``, 30 when unset."""
    return int(getattr(settings, "STREAMING", {}).get("RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


@dataclass
class PruneResult:
    """What a prune did (or would do, on a dry run)."""

    sessions: int = 0
    segments: int = 0
    audio_files: int = 0
    related: dict[str, int] = field(default_factory=dict)  # other apps' records, by kind


def prune(cutoff: dt.datetime, *, audio_only: bool = False, dry_run: bool = False,
          batch_size: int | None = None) -> PruneResult:
    """Delete sessions created before ``cutoff`` with their audio, or only the audio.

    Then the apps delete what this leaves behind (``sessions_pruned``: the voicebot, its
    conversations without sessions). Works in batches of primary
    keys so a large backlog never loads at once.
    """
    batch_size = batch_size or BATCH_SIZE
    old = StreamSession.objects.filter(created_at__lt=cutoff)
    result = PruneResult()
    if audio_only:
        with_audio = old.exclude(audio="")
        if dry_run:
            result.audio_files = with_audio.count()
            return result
        while batch := list(with_audio.order_by().values_list("pk", "audio")[:batch_size]):
            pks = [pk for pk, _ in batch]
            StreamSession.objects.filter(pk__in=pks).update(audio="")
            result.sessions += len(pks)
            result.audio_files += delete_audio_files(name for _, name in batch)
        return result
    if dry_run:
        result.sessions = old.count()
        result.segments = SegmentRecord.objects.filter(session__created_at__lt=cutoff).count()
        result.audio_files = old.exclude(audio="").count()
        return _with_related(result, cutoff, dry_run=True)
    while pks := list(old.order_by().values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            sessions, segments, names = delete_sessions(StreamSession.objects.filter(pk__in=pks))
        result.sessions += sessions
        result.segments += segments
        result.audio_files += delete_audio_files(names)
    return _with_related(result, cutoff, dry_run=False)


def _with_related(result: PruneResult, cutoff: dt.datetime, *, dry_run: bool) -> PruneResult:
    """What the apps' receivers of ``sessions_pruned`` deleted (or would delete) too."""
    for _, counts in sessions_pruned.send(sender=StreamSession, cutoff=cutoff, dry_run=dry_run):
        for what, count in (counts or {}).items():
            result.related[what] = result.related.get(what, 0) + count
    return result


class Command(BaseCommand):
    """Delete sessions older than the retention, with their audio files."""

    help = ("Delete stream sessions (with their segments and stored audio) created more than "
            "DAYS days ago, or with --audio-only just their audio files. The default retention "
            "is settings.STREAMING['RETENTION_DAYS'] (30). Conversations untouched for as long "
            "and left without sessions are deleted too.")

    def add_arguments(self, parser: CommandParser) -> None:
        """Options: retention, audio only, dry run."""
        parser.add_argument("--older-than", type=int, metavar="DAYS", default=None,
                            help="retention in days (default: STREAMING['RETENTION_DAYS'], "
                                 f"else {DEFAULT_RETENTION_DAYS})")
        parser.add_argument("--audio-only", action="store_true",
                            help="delete only the audio files; keep the session records")
        parser.add_argument("--dry-run", action="store_true",
                            help="report what would be deleted; change nothing")

    def handle(self, *args: object, **options: object) -> None:
        """Prune and report."""
        days = options["older_than"]
        days = retention_days() if days is None else days
        if days < 0:
            raise CommandError("--older-than must be zero or more days")
        cutoff = timezone.now() - dt.timedelta(days=days)
        audio_only, dry_run = bool(options["audio_only"]), bool(options["dry_run"])
        result = prune(cutoff, audio_only=audio_only, dry_run=dry_run)
        when = f"created before {cutoff:%Y-%m-%d %H:%M %Z} ({days} days)"
        verb = "Would delete" if dry_run else "Deleted"
        if audio_only:
            message = f"{verb} {result.audio_files} audio files of sessions {when}"
            if not dry_run:
                message += f"; {result.sessions} sessions kept without audio"
        else:
            message = (f"{verb} {result.sessions} sessions ({result.segments} segments, "
                       f"{result.audio_files} audio files) {when}")
            message += "".join(f", and {count} {what}" for what, count in result.related.items())
        self.stdout.write(message + (" (dry run: nothing changed)." if dry_run else "."))
