"""The embedded default outbox: one SQLite file, WAL, durable commits.

Durability: the file is in WAL mode with ``synchronous=FULL``, so a status
change that returned has been flushed to disk (fsync) and survives a crash of
the process, the operating system, or a power loss (on storage that honours
flushes). A change that had not returned when the power went is either wholly
there or wholly absent, never half-written. Network file systems are not safe
for SQLite: keep the file on a local disk.

Several threads and processes may share one file: each thread gets its own
connection, and every write runs in a ``BEGIN IMMEDIATE`` transaction, so
``claim`` hands each item to exactly one worker.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailbill.errors import InvalidTransitionError, ItemNotFoundError, RefusedRecipient
from mailbill.outbox._model import (
    FINAL_STATUSES,
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
from mailbill.outbox._sqlite_schema import migrate
from mailbill.outbox.base import _UNSET, Clock, Outbox, utc_now

__all__ = ["SQLiteOutbox"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = (
    "id, key, version, status, {message}, mail_from, recipients, message_id, transport, smtputf8, "
    "batch, kind, reference, decision, reason, next_attempt_at, lease_until, created_at, updated_at, sent_at"
)

_ATTEMPT_COLUMNS = (
    "item_id, at, transport, outcome, smtp_code, enhanced_status, server_text, "
    "error_class, error_message, refused"
)


def _us(value: datetime | None) -> int | None:
    """A datetime as integer microseconds since the epoch."""
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _dt_req(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class SQLiteOutbox(Outbox):
    """An :class:`~mailbill.outbox.Outbox` in one SQLite file (the embedded default).

    Example:
        >>> with SQLiteOutbox(tmp / "outbox.sqlite3") as outbox:  # doctest: +SKIP
        ...     outbox.counts()

    Args:
        path: The database file; created (with its schema) when missing.
        clock: Returns "now" (aware UTC) when a method gets no ``now``.
        archive: Keep an archive of the exact bytes sent.
        timeout: Seconds to wait for another writer's lock before failing.
        durable: Flush every commit to disk (``synchronous=FULL``, the default).
            ``False`` uses ``synchronous=NORMAL``: still safe when the process
            crashes, but the last commits may be lost on a power cut or an
            operating system crash (faster; for tests and throwaway outboxes).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        /,
        *,
        clock: Clock = utc_now,
        archive: bool = False,
        timeout: float = 30.0,
        durable: bool = True,
    ) -> None:
        super().__init__(clock=clock, archive=archive)
        self.path = Path(path)
        self._timeout = timeout
        self._synchronous = "FULL" if durable else "NORMAL"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        migrate(self._conn(), str(self.path))

    def __repr__(self) -> str:
        return f"<SQLiteOutbox path={str(self.path)!r}>"

    # -- connections and transactions ----------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _write(self) -> _Tx:
        return _Tx(self._conn(), "BEGIN IMMEDIATE")

    def _read(self) -> _Tx:
        return _Tx(self._conn(), "BEGIN")

    def close(self) -> None:
        """Close every connection this outbox opened (any thread's)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # -- rows -----------------------------------------------------------------------

    def _load(
        self, conn: sqlite3.Connection, where: str, params: Sequence[Any], *, message: bool, tail: str = ""
    ) -> list[OutboxItem]:
        cols = _COLUMNS.format(message="message" if message else "NULL")
        rows = conn.execute(f"SELECT {cols} FROM items WHERE {where} {tail}", params).fetchall()  # noqa: S608
        if not rows:
            return []
        attempts: dict[int, list[Attempt]] = {row[0]: [] for row in rows}
        ids = list(attempts)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE item_id IN ({marks}) ORDER BY id"  # noqa: S608
            for a in conn.execute(sql, chunk):
                refused = tuple(RefusedRecipient(**r) for r in json.loads(a[9]))
                attempts[a[0]].append(
                    Attempt(_dt_req(a[1]), a[2], Status(a[3]), a[4], a[5], a[6], a[7], a[8], refused)
                )
        return [
            OutboxItem(
                id=r[0], key=r[1], version=r[2], status=Status(r[3]), message=r[4], mail_from=r[5],
                recipients=tuple(json.loads(r[6])), message_id=r[7], transport=r[8], smtputf8=bool(r[9]),
                batch=r[10], kind=r[11], reference=r[12], decision=r[13], reason=r[14],
                attempts=tuple(attempts[r[0]]), next_attempt_at=_dt(r[15]), lease_until=_dt(r[16]),
                created_at=_dt_req(r[17]), updated_at=_dt_req(r[18]), sent_at=_dt(r[19]),
            )
            for r in rows
        ]  # fmt: skip

    def _one(self, conn: sqlite3.Connection, item_id: int) -> OutboxItem:
        found = self._load(conn, "id = ?", (item_id,), message=True)
        if not found:
            raise ItemNotFoundError(f"no outbox item has id {item_id}")
        return found[0]

    @staticmethod
    def _insert_attempt(conn: sqlite3.Connection, item_id: int, a: Attempt) -> None:
        refused = json.dumps(
            [
                {"address": r.address, "code": r.code, "text": r.text, "enhanced_status": r.enhanced_status}
                for r in a.refused
            ]
        )
        conn.execute(
            "INSERT INTO attempts (item_id, at, transport, outcome, smtp_code, enhanced_status, server_text, "
            "error_class, error_message, refused) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, _us(a.at), a.transport, a.outcome.value, a.smtp_code, a.enhanced_status, a.server_text,
             a.error_class, a.error_message, refused),
        )  # fmt: skip

    @staticmethod
    def _insert_item(conn: sqlite3.Connection, item: NewItem, version: int, at: datetime) -> None:
        due = _us(at) if item.status is Status.RELEASED else None
        conn.execute(
            "INSERT INTO items (key, version, status, message, mail_from, recipients, message_id, transport, "
            "smtputf8, batch, kind, reference, decision, reason, next_attempt_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key, version) DO NOTHING",
            (item.key, version, item.status.value, item.message, item.mail_from,
             json.dumps(list(item.recipients)), item.message_id, item.transport, int(item.smtputf8),
             item.batch, item.kind, item.reference, item.decision, item.reason, due, _us(at), _us(at)),
        )  # fmt: skip

    def _latest(self, conn: sqlite3.Connection, key: str, *, message: bool = True) -> OutboxItem | None:
        found = self._load(conn, "key = ?", (key,), message=message, tail="ORDER BY version DESC LIMIT 1")
        return found[0] if found else None

    # -- adding -----------------------------------------------------------------------

    def add_many(self, items: Iterable[NewItem], /, *, now: datetime | None = None) -> list[OutboxItem]:
        """Store many items in one transaction, idempotently on the business key."""
        at = self._now(now)
        result = []
        with self._write() as conn:
            for item in items:
                self._insert_item(conn, item, 1, at)
                stored = self._latest(conn, item.key)
                assert stored is not None
                result.append(stored)
        return result

    def resend(
        self,
        key: str,
        /,
        item: NewItem | None = None,
        *,
        status: Status = Status.RELEASED,
        now: datetime | None = None,
    ) -> OutboxItem:
        """Add a new version of a document's item (see :meth:`Outbox.resend`)."""
        at = self._now(now)
        with self._write() as conn:
            latest = self._latest(conn, key)
            if latest is None:
                raise ItemNotFoundError(f"no outbox item has key {key!r}")
            if latest.status not in FINAL_STATUSES:
                raise InvalidTransitionError(
                    f"outbox item {latest.id} ({key!r}) is {latest.status.value}; resend only a finished one"
                )
            new = item or NewItem(
                key, latest.message or b"", latest.mail_from, latest.recipients,
                latest.message_id, latest.transport, latest.smtputf8, latest.batch, latest.kind,
                latest.reference, latest.decision, status,
            )  # fmt: skip
            new = NewItem(
                **{**{f: getattr(new, f) for f in new.__dataclass_fields__}, "key": key, "status": status}
            )
            self._insert_item(conn, new, latest.version + 1, at)
            stored = self._latest(conn, key)
            assert stored is not None
            return stored

    # -- queries -----------------------------------------------------------------------

    def get(self, item_id: int, /) -> OutboxItem:
        """The item with this id, with its bytes."""
        with self._read() as conn:
            return self._one(conn, item_id)

    def get_by_key(self, key: str, /, *, version: int | None = None) -> OutboxItem:
        """The latest (or given) version stored under ``key``, with its bytes."""
        with self._read() as conn:
            if version is None:
                found = self._latest(conn, key)
            else:
                rows = self._load(conn, "key = ? AND version = ?", (key, version), message=True)
                found = rows[0] if rows else None
        if found is None:
            raise ItemNotFoundError(
                f"no outbox item has key {key!r}" + (f" version {version}" if version else "")
            )
        return found

    def find(
        self,
        *,
        status: Status | Collection[Status] | None = None,
        batch: str | None = None,
        key: str | None = None,
        reference: str | None = None,
        kind: str | None = None,
        transport: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[OutboxItem]:
        """Items matching every given filter, oldest first, without bytes."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, Status) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(Status(s).value for s in statuses)
        for column, value in (
            ("batch", batch),
            ("key", key),
            ("reference", reference),
            ("kind", kind),
            ("transport", transport),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        tail = "ORDER BY created_at, id LIMIT ? OFFSET ?"
        params.extend([-1 if limit is None else limit, offset])
        with self._read() as conn:
            return self._load(conn, " AND ".join(where), params, message=False, tail=tail)

    def counts(self, *, batch: str | None = None) -> dict[Status, int]:
        """How many items have each status."""
        result = dict.fromkeys(Status, 0)
        where = "" if batch is None else " WHERE batch = ?"
        sql = f"SELECT status, count(*) FROM items{where} GROUP BY status"  # noqa: S608
        with self._read() as conn:
            for status, count in conn.execute(sql, () if batch is None else (batch,)):
                result[Status(status)] = count
        return result

    # -- status changes ------------------------------------------------------------------

    def claim(
        self,
        limit: int,
        /,
        *,
        lease_seconds: float,
        transports: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Hand up to ``limit`` due items to the caller as SENDING."""
        at = self._now(now)
        where = "status IN ('released', 'deferred') AND next_attempt_at <= ?"
        params: list[Any] = [_us(at)]
        if transports is not None:
            names = list(transports)
            where += f" AND transport IN ({','.join('?' * len(names))})"
            params.extend(names)
        with self._write() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM items WHERE {where} ORDER BY next_attempt_at, created_at, id LIMIT ?",  # noqa: S608
                    [*params, max(limit, 0)],
                )
            ]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            conn.execute(
                f"UPDATE items SET status = 'sending', lease_until = ?, updated_at = ? WHERE id IN ({marks})",  # noqa: S608
                [_us(at + timedelta(seconds=lease_seconds)), _us(at), *ids],
            )
            claimed = self._load(conn, f"id IN ({marks})", ids, message=True)
        order = {item_id: n for n, item_id in enumerate(ids)}
        return sorted(claimed, key=lambda item: order[item.id])

    def recover(
        self,
        *,
        policy: RecoveryPolicy = RecoveryPolicy.UNCERTAIN,
        include_unexpired: bool = False,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Take back SENDING items whose lease expired."""
        at = self._now(now)
        new = Status.UNCERTAIN if policy is RecoveryPolicy.UNCERTAIN else Status.RELEASED
        where = "status = 'sending'" + (
            "" if include_unexpired else " AND (lease_until IS NULL OR lease_until <= ?)"
        )
        params: list[Any] = [] if include_unexpired else [_us(at)]
        with self._write() as conn:
            sql = f"SELECT id, transport FROM items WHERE {where} ORDER BY id"  # noqa: S608
            rows = conn.execute(sql, params).fetchall()
            ids = [row[0] for row in rows]
            for item_id, transport in rows:
                self._insert_attempt(
                    conn, item_id, Attempt(at, transport, new, error_message="lease expired")
                )
                conn.execute(
                    "UPDATE items SET status = ?, lease_until = NULL, updated_at = ?, next_attempt_at = ?, "
                    "reason = 'lease expired while sending' WHERE id = ?",
                    (new.value, _us(at), _us(at) if new is Status.RELEASED else None, item_id),
                )
            return self._load(
                conn, f"id IN ({','.join('?' * len(ids))})", ids, message=False, tail="ORDER BY id"
            )

    def _set_status(
        self,
        item_id: int,
        new: Status,
        /,
        *,
        now: datetime,
        allowed_from: Collection[Status] | None = None,
        attempt: Attempt | None = None,
        next_attempt_at: datetime | None = _UNSET,
        reason: str | None = None,
        sent_at: datetime | None = None,
        archive_reply: str | None = None,
    ) -> OutboxItem:
        with self._write() as conn:
            row = conn.execute("SELECT status FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise ItemNotFoundError(f"no outbox item has id {item_id}")
            old = Status(row[0])
            check_transition(item_id, old, new)
            if allowed_from is not None and old not in allowed_from:
                raise InvalidTransitionError(
                    f"outbox item {item_id}: {old.value} cannot be changed to {new.value} this way"
                )
            sets = ["status = ?", "updated_at = ?", "lease_until = NULL"]
            params: list[Any] = [new.value, _us(now)]
            if next_attempt_at is not _UNSET:
                sets.append("next_attempt_at = ?")
                params.append(_us(next_attempt_at))
            if reason is not None:
                sets.append("reason = ?")
                params.append(reason)
            if sent_at is not None:
                sets.append("sent_at = ?")
                params.append(_us(sent_at))
            conn.execute(f"UPDATE items SET {', '.join(sets)} WHERE id = ?", [*params, item_id])  # noqa: S608
            if attempt is not None:
                self._insert_attempt(conn, item_id, attempt)
            if archive_reply is not None and self.archive:
                data, message_id = conn.execute(
                    "SELECT message, message_id FROM items WHERE id = ?", (item_id,)
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO archive (item_id, message_id, sha256, data, reply, archived_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (item_id, message_id, ArchiveEntry.digest(data), data, archive_reply, _us(now)),
                )
            return self._one(conn, item_id)

    # -- suppression, archive, purge ------------------------------------------------------------

    def is_suppressed(self, address: str, /) -> SuppressionEntry | None:
        """The entry blocking ``address``, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT address, reason, note, added_at FROM suppression WHERE address = ?",
                (address.strip().casefold(),),
            ).fetchone()
        return (
            None
            if row is None
            else SuppressionEntry(row[0], SuppressionReason(row[1]), row[2], _dt_req(row[3]))
        )

    def suppress(
        self,
        address: str,
        /,
        reason: SuppressionReason | str = SuppressionReason.MANUAL,
        note: str = "",
        *,
        now: datetime | None = None,
    ) -> SuppressionEntry:
        """Block ``address``."""
        entry = SuppressionEntry(address.strip().casefold(), SuppressionReason(reason), note, self._now(now))
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO suppression (address, reason, note, added_at) VALUES (?, ?, ?, ?)",
                (entry.address, entry.reason.value, entry.note, _us(entry.added_at)),
            )
        return entry

    def unsuppress(self, address: str, /) -> bool:
        """Unblock ``address``."""
        with self._write() as conn:
            return (
                conn.execute(
                    "DELETE FROM suppression WHERE address = ?", (address.strip().casefold(),)
                ).rowcount
                > 0
            )

    def suppressions(self) -> list[SuppressionEntry]:
        """Every blocked address, sorted."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT address, reason, note, added_at FROM suppression ORDER BY address"
            ).fetchall()
        return [SuppressionEntry(r[0], SuppressionReason(r[1]), r[2], _dt_req(r[3])) for r in rows]

    def archived(self, item_id: int, /) -> ArchiveEntry | None:
        """The archived bytes sent for an item, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT item_id, message_id, sha256, data, reply, archived_at FROM archive WHERE item_id = ?",
                (item_id,),
            ).fetchone()
        return None if row is None else ArchiveEntry(row[0], row[1], row[2], row[3], row[4], _dt_req(row[5]))

    def purge(self, older_than: datetime, /, *, items: bool = True, archives: bool = True) -> int:
        """Delete archives and final items last changed before ``older_than``."""
        cutoff = _us(self._now(older_than))
        deleted = 0
        with self._write() as conn:
            if archives:
                deleted += conn.execute("DELETE FROM archive WHERE archived_at < ?", (cutoff,)).rowcount
            if items:
                finals = [s.value for s in FINAL_STATUSES]
                where = f"status IN ({','.join('?' * len(finals))}) AND updated_at < ?"
                deleted += conn.execute(
                    f"DELETE FROM archive WHERE item_id IN (SELECT id FROM items WHERE {where})",  # noqa: S608
                    [*finals, cutoff],
                ).rowcount
                deleted += conn.execute(f"DELETE FROM items WHERE {where}", [*finals, cutoff]).rowcount  # noqa: S608
        return deleted


class _Tx:
    """A transaction on one connection: commit on success, roll back on any error."""

    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self._conn = conn
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute(self._begin)
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
