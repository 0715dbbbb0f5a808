"""Rows of the PostgreSQL outbox to and from the plain data classes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mailbill.errors import RefusedRecipient
from mailbill.outbox._model import Attempt, OutboxItem, Status

__all__ = ["ATTEMPT_COLUMNS", "ITEM_COLUMNS", "attempt_from_row", "attempt_params", "item_from_row"]

#: The item columns in the order :func:`item_from_row` reads; ``{message}`` is
#: ``message`` or ``NULL`` (list queries leave the bytes out).
ITEM_COLUMNS = (
    "id, key, version, status, {message}, mail_from, recipients, message_id, transport, smtputf8, "
    "batch, kind, reference, decision, reason, next_attempt_at, lease_until, created_at, updated_at, sent_at"
)

#: The attempt columns in the order :func:`attempt_from_row` reads.
ATTEMPT_COLUMNS = (
    "item_id, at, transport, outcome, smtp_code, enhanced_status, server_text, "
    "error_class, error_message, refused"
)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def item_from_row(r: Sequence[Any], attempts: Sequence[Attempt]) -> OutboxItem:
    """An :class:`OutboxItem` from a row of :data:`ITEM_COLUMNS`."""
    return OutboxItem(
        id=r[0], key=r[1], version=r[2], status=Status(r[3]),
        message=None if r[4] is None else bytes(r[4]), mail_from=r[5], recipients=tuple(r[6]),
        message_id=r[7], transport=r[8], smtputf8=bool(r[9]), batch=r[10], kind=r[11], reference=r[12],
        decision=r[13], reason=r[14], attempts=tuple(attempts), next_attempt_at=_utc(r[15]),
        lease_until=_utc(r[16]), created_at=r[17].astimezone(UTC), updated_at=r[18].astimezone(UTC),
        sent_at=_utc(r[19]),
    )  # fmt: skip


def attempt_from_row(a: Sequence[Any]) -> Attempt:
    """An :class:`Attempt` from a row of :data:`ATTEMPT_COLUMNS`."""
    refused = tuple(RefusedRecipient(**r) for r in a[9])
    return Attempt(a[1].astimezone(UTC), a[2], Status(a[3]), a[4], a[5], a[6], a[7], a[8], refused)


def attempt_params(item_id: int, a: Attempt) -> tuple[Any, ...]:
    """The parameters to insert ``a`` in the order of :data:`ATTEMPT_COLUMNS`."""
    from psycopg.types.json import Jsonb

    refused = [
        {"address": r.address, "code": r.code, "text": r.text, "enhanced_status": r.enhanced_status}
        for r in a.refused
    ]
    return (
        item_id, a.at, a.transport, a.outcome.value, a.smtp_code, a.enhanced_status, a.server_text,
        a.error_class, a.error_message, Jsonb(refused),
    )  # fmt: skip
