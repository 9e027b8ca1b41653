"""The voicebot's part of ``prune_sessions``: conversations left without sessions go too."""
from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.dispatch import receiver

from streaming.signals import sessions_pruned
from voicebot.models import Conversation, Turn


def orphan_conversations(cutoff: dt.datetime, *, exclude_old_sessions: bool = False
                         ) -> QuerySet:
    """Conversations untouched since ``cutoff`` with no session (or only old ones) left."""
    stale = Conversation.objects.filter(updated_at__lt=cutoff)
    recent = Turn.objects.filter(conversation__isnull=False)
    if exclude_old_sessions:  # a dry run: the old sessions (and their turns) are still there
        recent = recent.filter(session__created_at__gte=cutoff)
    return stale.exclude(pk__in=recent.values("conversation_id"))


@receiver(sessions_pruned)
def prune_conversations(sender: object, *, cutoff: dt.datetime, dry_run: bool,
                        **kwargs: object) -> dict[str, int]:
    """Delete (or count) the conversations the pruned sessions leave behind: their history
    is user data under the same retention."""
    if dry_run:
        return {"conversations left without sessions":
                orphan_conversations(cutoff, exclude_old_sessions=True).count()}
    _, per_model = orphan_conversations(cutoff).delete()
    return {"conversations left without sessions": sum(per_model.values())}
