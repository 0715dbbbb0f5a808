"""The outbox: a durable store of composed messages with a closed status set.

- :class:`Outbox` is the contract (``base.py``).
- :class:`SQLiteOutbox` is the embedded default (``sqlite.py``).
- :class:`MemoryOutbox` keeps everything in memory, for tests (``memory.py``).
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
from mailbill.outbox.base import Clock, Outbox, OutboxSuppressionList, utc_now
from mailbill.outbox.memory import MemoryOutbox
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
    "RecoveryPolicy",
    "SQLiteOutbox",
    "Status",
    "SuppressionEntry",
    "SuppressionReason",
    "check_transition",
    "utc_now",
]
