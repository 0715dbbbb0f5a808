"""Rows of the SQLite outbox: time encoding, reading items, writing items and attempts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mailbill.errors import ItemNotFoundError, RefusedRecipient
from mailbill.outbox._model import Attempt, NewItem, OutboxItem, Status

__all__ = [
    "IN_LIMIT",
    "Tx",
    "dt",
    "in_lists",
    "insert_attempt",
    "insert_attempts",
    "insert_item",
    "inserted_item",
    "load_attempts",
    "load_items",
    "load_one",
    "us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = (
    "id, key, version, status, {message}, mail_from, recipients, message_id, transport, smtputf8, "
    "batch, kind, reference, decision, reason, next_attempt_at, lease_until, created_at, updated_at, "
    "sent_at, headers"
)

#: Values per ``IN (...)`` list: well under SQLite's limit on a statement's
#: parameters (999 before SQLite 3.32).
IN_LIMIT = 500

_ATTEMPT_COLUMNS = (
    "item_id, at, transport, outcome, smtp_code, enhanced_status, server_text, "
    "error_class, error_message, refused"
)


def us(value: datetime | None) -> int | None:
    """A datetime as integer microseconds since the epoch."""
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def dt(value: int | None) -> datetime | None:
    """Integer microseconds since the epoch as an aware UTC datetime (``None`` stays ``None``)."""
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def dt_req(value: int) -> datetime:
    """Like :func:`dt`, for columns that are never NULL."""
    return _EPOCH + timedelta(microseconds=value)


def in_lists(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """``values`` in slices of at most :data:`IN_LIMIT`, each with its ``?`` placeholders."""
    for start in range(0, len(values), IN_LIMIT):
        part = values[start : start + IN_LIMIT]
        yield part, ",".join("?" * len(part))  # placeholders only: the values are bound


def load_items(
    conn: sqlite3.Connection,
    where: str,
    params: Sequence[Any],
    *,
    message: bool,
    tail: str = "",
    attempts: bool = True,
) -> list[OutboxItem]:
    """The items matching ``where``; with ``attempts=False`` their attempts are left empty."""
    body = "(SELECT message FROM bodies WHERE item_id = items.id)"
    cols = _COLUMNS.format(message=body if message else "NULL")
    rows = conn.execute(f"SELECT {cols} FROM items WHERE {where} {tail}", params).fetchall()  # noqa: S608
    if not rows:
        return []
    history = load_attempts(conn, [row[0] for row in rows] if attempts else [])
    return [
        OutboxItem(
            id=r[0], key=r[1], version=r[2], status=Status(r[3]), message=r[4], mail_from=r[5],
            recipients=tuple(json.loads(r[6])), message_id=r[7], transport=r[8], smtputf8=bool(r[9]),
            batch=r[10], kind=r[11], reference=r[12], decision=r[13], reason=r[14],
            attempts=tuple(history.get(r[0], ())), next_attempt_at=dt(r[15]), lease_until=dt(r[16]),
            created_at=dt_req(r[17]), updated_at=dt_req(r[18]), sent_at=dt(r[19]), headers=r[20],
        )
        for r in rows
    ]  # fmt: skip


def load_attempts(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, list[Attempt]]:
    """The attempts of each item, oldest first (an empty list for an item with none)."""
    attempts: dict[int, list[Attempt]] = {item_id: [] for item_id in ids}
    for chunk, marks in in_lists(list(attempts)):
        sql = f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE item_id IN ({marks}) ORDER BY id"  # noqa: S608
        for a in conn.execute(sql, chunk):
            refused = tuple(RefusedRecipient(**r) for r in json.loads(a[9]))
            attempts[a[0]].append(
                Attempt(dt_req(a[1]), a[2], Status(a[3]), a[4], a[5], a[6], a[7], a[8], refused)
            )
    return attempts


def load_one(conn: sqlite3.Connection, item_id: int) -> OutboxItem:
    found = load_items(conn, "id = ?", (item_id,), message=True)
    if not found:
        raise ItemNotFoundError(f"no outbox item has id {item_id}")
    return found[0]


_INSERT_ATTEMPT = (
    "INSERT INTO attempts (item_id, at, transport, outcome, smtp_code, enhanced_status, server_text, "
    "error_class, error_message, refused) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _attempt_row(item_id: int, a: Attempt) -> tuple[Any, ...]:
    refused = json.dumps(
        [
            {"address": r.address, "code": r.code, "text": r.text, "enhanced_status": r.enhanced_status}
            for r in a.refused
        ]
    )
    return (item_id, us(a.at), a.transport, a.outcome.value, a.smtp_code, a.enhanced_status,
            a.server_text, a.error_class, a.error_message, refused)  # fmt: skip


def insert_attempt(conn: sqlite3.Connection, item_id: int, a: Attempt) -> None:
    conn.execute(_INSERT_ATTEMPT, _attempt_row(item_id, a))


def insert_attempts(conn: sqlite3.Connection, attempts: Iterable[tuple[int, Attempt]]) -> None:
    """Append many attempts with one statement: ``(item id, attempt)`` pairs."""
    conn.executemany(_INSERT_ATTEMPT, [_attempt_row(item_id, a) for item_id, a in attempts])


def insert_item(conn: sqlite3.Connection, item: NewItem, version: int, at: datetime) -> int | None:
    """Insert ``item`` unless its key and version are taken; return the new row's id, else ``None``."""
    due = us(at) if item.status is Status.RELEASED else None
    cursor = conn.execute(
        "INSERT INTO items (key, version, status, message, mail_from, recipients, message_id, transport, "
        "smtputf8, batch, kind, reference, decision, reason, next_attempt_at, created_at, updated_at, "
        "headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key, version) DO NOTHING",
        (item.key, version, item.status.value, b"", item.mail_from,
         json.dumps(list(item.recipients)), item.message_id, item.transport, int(item.smtputf8),
         item.batch, item.kind, item.reference, item.decision, item.reason, due, us(at), us(at),
         item.headers),
    )  # fmt: skip
    if cursor.rowcount != 1:
        return None
    # The bytes live in ``bodies`` (see the schema): status changes then leave them be.
    conn.execute("INSERT INTO bodies (item_id, message) VALUES (?, ?)", (cursor.lastrowid, item.message))
    return cursor.lastrowid


def inserted_item(item: NewItem, item_id: int, version: int, at: datetime) -> OutboxItem:
    """The item :func:`insert_item` just stored, as :func:`load_items` would read it back.

    Built from what was written, so adding does not read the message bytes
    back; every value goes through the same conversions as a stored row.
    """
    micros = us(at)
    assert micros is not None
    stamp = dt_req(micros)
    return OutboxItem(
        id=item_id, key=item.key, version=version, status=item.status, message=bytes(item.message),
        mail_from=item.mail_from, recipients=tuple(json.loads(json.dumps(list(item.recipients)))),
        message_id=item.message_id, transport=item.transport, smtputf8=bool(int(item.smtputf8)),
        batch=item.batch, kind=item.kind, reference=item.reference, decision=item.decision,
        reason=item.reason, attempts=(), next_attempt_at=stamp if item.status is Status.RELEASED else None,
        lease_until=None, created_at=stamp, updated_at=stamp, sent_at=None, headers=item.headers,
    )  # fmt: skip


class Tx:
    """A transaction on one connection: commit on success, roll back on any error.

    Nested use on the same connection becomes a savepoint inside the outer
    transaction (only the outermost one begins and ends it), so a bulk operation
    can run many single operations in one durable commit, and a nested one that
    fails undoes only its own changes. The outermost transaction must be the
    write one when any nested one writes.
    """

    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self._conn = conn
        self._begin = begin
        self._outer = False

    def __enter__(self) -> sqlite3.Connection:
        if not self._conn.in_transaction:
            self._conn.execute(self._begin)
            self._outer = True
        else:
            self._conn.execute("SAVEPOINT nested")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if self._outer:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        elif exc_type is None:
            self._conn.execute("RELEASE nested")
        else:
            self._conn.execute("ROLLBACK TO nested")
            self._conn.execute("RELEASE nested")
