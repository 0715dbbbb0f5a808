"""Rows of the PostgreSQL outbox to and from the plain data classes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, LiteralString

from mailbill.errors import ItemNotFoundError, RefusedRecipient
from mailbill.outbox._model import Attempt, NewItem, OutboxItem, Status

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from mailbill.outbox._postgres_db import Database

__all__ = [
    "ATTEMPT_COLUMNS",
    "INSERT_ITEM",
    "ITEM_COLUMNS",
    "attempt_from_row",
    "attempt_params",
    "insert_attempt",
    "item_from_row",
    "item_params",
    "latest",
    "load",
    "load_ids",
    "one",
]

#: The item columns in the order :func:`item_from_row` reads.
ITEM_COLUMNS: LiteralString = (
    "id, key, version, status, message, mail_from, recipients, message_id, transport, smtputf8, "
    "batch, kind, reference, decision, reason, next_attempt_at, lease_until, created_at, updated_at, "
    "sent_at, headers"
)

#: The same without the bytes, for list queries.
LIST_COLUMNS: LiteralString = ITEM_COLUMNS.replace(", message,", ", NULL,")

#: The attempt columns in the order :func:`attempt_from_row` reads.
ATTEMPT_COLUMNS: LiteralString = (
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
        sent_at=_utc(r[19]), headers=r[20],
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


#: Adds version ``version`` of an item unless the key already has that version.
INSERT_ITEM: LiteralString = (
    "INSERT INTO {s}.items (key, version, status, message, mail_from, recipients, message_id, transport, "
    "smtputf8, batch, kind, reference, decision, reason, next_attempt_at, created_at, updated_at, headers) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT ON CONSTRAINT items_key_version DO NOTHING"
)

_SELECT_ITEMS: LiteralString = "SELECT " + ITEM_COLUMNS + " FROM {s}.items WHERE "  # noqa: S608
_SELECT_LISTED: LiteralString = "SELECT " + LIST_COLUMNS + " FROM {s}.items WHERE "  # noqa: S608
_SELECT_ATTEMPTS: LiteralString = (
    "SELECT " + ATTEMPT_COLUMNS + " FROM {s}.attempts WHERE item_id = ANY(%s) ORDER BY id"  # noqa: S608
)


def item_params(item: NewItem, version: int, at: datetime) -> tuple[Any, ...]:
    """The parameters of :data:`INSERT_ITEM` for ``item``."""
    due = at if item.status is Status.RELEASED else None
    return (
        item.key, version, item.status.value, item.message, item.mail_from, list(item.recipients),
        item.message_id, item.transport, item.smtputf8, item.batch, item.kind, item.reference,
        item.decision, item.reason, due, at, at, item.headers,
    )  # fmt: skip


def load(
    db: Database,
    conn: psycopg.Connection[Any],
    where: sql.Composable,
    params: Sequence[Any],
    *,
    message: bool,
) -> list[OutboxItem]:
    """The items matching ``where`` with their attempts, oldest first (bytes only when ``message``)."""
    from psycopg import sql

    query = db.q(_SELECT_ITEMS if message else _SELECT_LISTED) + where + sql.SQL(" ORDER BY created_at, id")
    rows = conn.execute(query, params).fetchall()
    if not rows:
        return []
    attempts: dict[int, list[Attempt]] = {row[0]: [] for row in rows}
    for a in conn.execute(db.q(_SELECT_ATTEMPTS), (list(attempts),)):
        attempts[a[0]].append(attempt_from_row(a))
    return [item_from_row(r, attempts[r[0]]) for r in rows]


def load_ids(
    db: Database, conn: psycopg.Connection[Any], ids: Sequence[int], *, message: bool
) -> list[OutboxItem]:
    """The items with these ids (see :func:`load`)."""
    from psycopg import sql

    return load(db, conn, sql.SQL("id = ANY(%s)"), (list(ids),), message=message)


def one(db: Database, conn: psycopg.Connection[Any], item_id: int, *, message: bool = True) -> OutboxItem:
    """One item with its bytes, or ItemNotFoundError."""
    found = load_ids(db, conn, [item_id], message=message)
    if not found:
        raise ItemNotFoundError(f"no outbox item has id {item_id}")
    return found[0]


def latest(db: Database, conn: psycopg.Connection[Any], keys: Sequence[str]) -> dict[str, OutboxItem]:
    """The latest version of each key that is stored, with bytes."""
    query = db.q("SELECT DISTINCT ON (key) id FROM {s}.items WHERE key = ANY(%s) ORDER BY key, version DESC")
    ids = [row[0] for row in conn.execute(query, (list(keys),))]
    return {item.key: item for item in load_ids(db, conn, ids, message=True)}


def insert_attempt(db: Database, conn: psycopg.Connection[Any], item_id: int, attempt: Attempt) -> None:
    """Append one attempt to an item's history."""
    conn.execute(
        db.q(
            "INSERT INTO {s}.attempts (" + ATTEMPT_COLUMNS + ") "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ),
        attempt_params(item_id, attempt),
    )
