"""Signals the core sends, so that apps keep their own records in step with the sessions
without the core importing them."""
from django.dispatch import Signal

sessions_pruned = Signal()
"""Sent by ``prune_sessions`` once the sessions created before ``cutoff`` are deleted (or,
with ``dry_run``, counted). A receiver deletes (or counts) its own records that this leaves
behind and returns ``{"what they are": count}`` for the command's report."""
