"""The outbox: a durable store of composed messages with a closed status set.

- :class:`Outbox` is the contract (``base.py``).
- :class:`SQLiteOutbox` is the embedded default (``sqlite.py``).
- :class:`MemoryOutbox` keeps everything in memory, for tests (``memory.py``).
- :func:`outbox_from_url` opens one named by a URL (``_urls.py``).
- :class:`PostgresOutbox` is shared by many workers on PostgreSQL (``postgres.py``, ``mailbill[postgres]``).
"""

from __future__ import annotations

from mailbill.outbox._model import (
    FINAL_STATUSES,
    PENDING_STATUSES,
    TRANSITIONS,
    ArchiveEntry,
    Attempt,
    NewItem,
    OutboxItem,
    RecoveryPolicy,
    Status,
    SuppressionEntry,
    SuppressionReason,
    check_transition,
)
from mailbill.outbox._postgres_ratelimit import PostgresRateLimiter
from mailbill.outbox._urls import outbox_from_url
from mailbill.outbox.base import Clock, Outbox, OutboxSuppressionList, utc_now
from mailbill.outbox.memory import MemoryOutbox
from mailbill.outbox.postgres import PostgresOutbox
from mailbill.outbox.sqlite import SQLiteOutbox

__all__ = [
    "FINAL_STATUSES",
    "PENDING_STATUSES",
    "TRANSITIONS",
    "ArchiveEntry",
    "Attempt",
    "Clock",
    "MemoryOutbox",
    "NewItem",
    "Outbox",
    "OutboxItem",
    "OutboxSuppressionList",
    "PostgresOutbox",
    "PostgresRateLimiter",
    "RecoveryPolicy",
    "SQLiteOutbox",
    "Status",
    "SuppressionEntry",
    "SuppressionReason",
    "check_transition",
    "outbox_from_url",
    "utc_now",
]
