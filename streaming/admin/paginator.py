"""A changelist paginator that spares large PostgreSQL tables an exact count."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """A paginator that spares large PostgreSQL tables an exact ``COUNT(*)``.

    For an unfiltered queryset on PostgreSQL the planner's row estimate
    (``pg_class.reltuples``, kept fresh by autovacuum/ANALYZE) is used when it is at least
    ``estimate_above``; a filtered queryset, a small table, an unanalyzed table (estimate
    -1) or another database gets the exact count.
    """

    estimate_above = 10_000

    @cached_property
    def count(self) -> int:
        """The estimated or exact number of objects."""
        estimate = self.estimated_count()
        if estimate is not None and estimate >= self.estimate_above:
            return estimate
        return super().count

    def estimated_count(self) -> int | None:
        """``reltuples`` of the table when the queryset is a plain, unfiltered listing."""
        qs = self.object_list
        if not isinstance(qs, QuerySet):
            return None
        query = qs.query
        if query.where or query.distinct or query.combinator or query.is_sliced:
            return None
        connection = connections[qs.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                           [connection.ops.quote_name(qs.model._meta.db_table)])
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None
