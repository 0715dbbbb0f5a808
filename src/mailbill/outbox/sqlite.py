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

import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mailbill._models import Address, SendReceipt
from mailbill.errors import InvalidTransitionError, ItemNotFoundError, OutboxError
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
    next_version,
)
from mailbill.outbox._sqlite_checkpoint import Checkpointer
from mailbill.outbox._sqlite_rows import (
    IN_LIMIT,
    Tx,
    dt,
    dt_req,
    in_lists,
    insert_attempt,
    insert_attempts,
    insert_item,
    inserted_item,
    load_attempts,
    load_items,
    load_one,
    us,
)
from mailbill.outbox._sqlite_schema import migrate
from mailbill.outbox.base import (
    _UNSET,
    AddressT,
    Clock,
    Outbox,
    address_key,
    as_given,
    keys_of,
    sent_attempt,
    utc_now,
)

__all__ = ["SQLiteOutbox"]

# Each ~64 KB message spans overflow pages, written to the WAL one frame (one
# write) each and copied again at checkpoints: 16 KiB pages quarter that work
# (the whole pipeline's CPU a message fell 6-9 %), while a small commit, such as
# one status change, costs only about a tenth more than with 4 KiB pages.
_PAGE_SIZE = 16384


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
        self._checkpointer = Checkpointer(self.path, self._synchronous)
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
            conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # a new file only; no-op otherwise
            _use_wal(conn, self.path, self._timeout)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _write(self) -> Tx:
        return Tx(self._conn(), "BEGIN IMMEDIATE")

    def _read(self) -> Tx:
        return Tx(self._conn(), "BEGIN")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for the changes made in the block (see :meth:`Outbox.transaction`)."""
        with self._write():
            yield

    def close(self) -> None:
        """Close every connection this outbox opened (any thread's), and stop its checkpoints."""
        done, self._checkpointer = self._checkpointer, Checkpointer(self.path, self._synchronous)
        done.close()
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # -- rows -----------------------------------------------------------------------

    def _latest(self, conn: sqlite3.Connection, key: str, *, message: bool = True) -> OutboxItem | None:
        found = load_items(conn, "key = ?", (key,), message=message, tail="ORDER BY version DESC LIMIT 1")
        return found[0] if found else None

    # -- adding -----------------------------------------------------------------------

    def add_many(self, items: Iterable[NewItem], /, *, now: datetime | None = None) -> list[OutboxItem]:
        """Store many items in one transaction, idempotently on the business key."""
        at = self._now(now)
        result = []
        size = 0
        with self._write() as conn:
            for item in items:
                size += len(item.message)
                item_id = insert_item(conn, item, 1, at)
                # A new row is returned as written; a known key returns what is stored.
                stored = (
                    inserted_item(item, item_id, 1, at)
                    if item_id is not None
                    else self._latest(conn, item.key)
                )
                assert stored is not None
                result.append(stored)
        self._checkpointer.wrote(size)
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
            new = next_version(latest, item, status=status)
            insert_item(conn, new, latest.version + 1, at)
            stored = self._latest(conn, key)
            assert stored is not None
        self._checkpointer.wrote(len(new.message))
        return stored

    # -- queries -----------------------------------------------------------------------

    def get(self, item_id: int, /) -> OutboxItem:
        """The item with this id, with its bytes."""
        with self._read() as conn:
            return load_one(conn, item_id)

    def get_by_key(self, key: str, /, *, version: int | None = None) -> OutboxItem:
        """The latest (or given) version stored under ``key``, with its bytes."""
        with self._read() as conn:
            if version is None:
                found = self._latest(conn, key)
            else:
                rows = load_items(conn, "key = ? AND version = ?", (key, version), message=True)
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
            return load_items(conn, " AND ".join(where), params, message=False, tail=tail)

    def last_sent(self, keys: Iterable[str], /) -> dict[str, datetime]:
        """When each document was last sent or handed off (one query per 500 keys)."""
        result: dict[str, datetime] = {}
        with self._read() as conn:
            for chunk, marks in in_lists(list(dict.fromkeys(keys))):
                sql = (
                    "SELECT key, max(sent_at) FROM items WHERE status IN ('sent', 'handed_off') "  # noqa: S608
                    f"AND sent_at IS NOT NULL AND key IN ({marks}) GROUP BY key"
                )
                for key, sent_at in conn.execute(sql, chunk):
                    result[key] = dt_req(sent_at)
        return result

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
        where = "status = ? AND next_attempt_at <= ?"
        params: list[Any] = [us(at)]
        if transports is not None:
            names = list(transports)
            where += f" AND transport IN ({','.join('?' * len(names))})"
            params.extend(names)
        # One ordered index scan per status, then merge: "status IN (...)" would sort
        # every due item on each claim (slow with 100,000 waiting).
        order_by = "ORDER BY next_attempt_at, created_at, id"
        columns = "id, next_attempt_at, created_at"
        one = f"SELECT * FROM (SELECT {columns} FROM items WHERE {where} {order_by} LIMIT ?)"  # noqa: S608
        count = max(limit, 0)
        with self._write() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM ({one} UNION ALL {one}) {order_by} LIMIT ?",  # noqa: S608
                    ["released", *params, count, "deferred", *params, count, count],
                )
            ]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            conn.execute(
                f"UPDATE items SET status = 'sending', lease_until = ?, updated_at = ? WHERE id IN ({marks})",  # noqa: S608
                [us(at + timedelta(seconds=lease_seconds)), us(at), *ids],
            )
            claimed = load_items(conn, f"id IN ({marks})", ids, message=True)
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
        params: list[Any] = [] if include_unexpired else [us(at)]
        with self._write() as conn:
            sql = f"SELECT id, transport FROM items WHERE {where} ORDER BY id"  # noqa: S608
            rows = conn.execute(sql, params).fetchall()
            ids = [row[0] for row in rows]
            for item_id, transport in rows:
                insert_attempt(conn, item_id, Attempt(at, transport, new, error_message="lease expired"))
                conn.execute(
                    "UPDATE items SET status = ?, lease_until = NULL, updated_at = ?, next_attempt_at = ?, "
                    "reason = 'lease expired while sending' WHERE id = ?",
                    (new.value, us(at), us(at) if new is Status.RELEASED else None, item_id),
                )
            return load_items(
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
            archiving = archive_reply is not None and self.archive
            found = load_items(conn, "id = ?", (item_id,), message=archiving, attempts=False)
            if not found:
                raise ItemNotFoundError(f"no outbox item has id {item_id}")
            item = found[0]
            old = item.status
            check_transition(item_id, old, new)
            if allowed_from is not None and old not in allowed_from:
                raise InvalidTransitionError(
                    f"outbox item {item_id}: {old.value} cannot be changed to {new.value} this way"
                )
            # The row after the change is built from the row read above, with every
            # value written going through the same conversion a read-back would.
            changes: dict[str, Any] = {
                "status": new, "updated_at": dt(us(now)), "lease_until": None, "message": None,
            }  # fmt: skip
            sets = ["status = ?", "updated_at = ?", "lease_until = NULL"]
            params: list[Any] = [new.value, us(now)]
            if next_attempt_at is not _UNSET:
                sets.append("next_attempt_at = ?")
                params.append(us(next_attempt_at))
                changes["next_attempt_at"] = dt(us(next_attempt_at))
            if reason is not None:
                sets.append("reason = ?")
                params.append(reason)
                changes["reason"] = reason
            if sent_at is not None:
                sets.append("sent_at = ?")
                params.append(us(sent_at))
                changes["sent_at"] = dt(us(sent_at))
            conn.execute(f"UPDATE items SET {', '.join(sets)} WHERE id = ?", [*params, item_id])  # noqa: S608
            if attempt is not None:
                insert_attempt(conn, item_id, attempt)
            if archiving:
                data = item.message or b""
                conn.execute(
                    "INSERT OR REPLACE INTO archive (item_id, message_id, sha256, data, reply, archived_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (item_id, item.message_id, ArchiveEntry.digest(data), data, archive_reply, us(now)),
                )
            changes["attempts"] = tuple(load_attempts(conn, [item_id])[item_id])
            return replace(item, **changes)

    def mark_sent_many(
        self, sends: Iterable[tuple[int, SendReceipt]], /, *, now: datetime | None = None
    ) -> list[OutboxItem]:
        """Record many successful sends with a few statements for all (see :meth:`Outbox.mark_sent_many`).

        One write transaction: an error records none of them.
        """
        pairs = list(sends)
        ids = [item_id for item_id, _ in pairs]
        if self.archive or len(set(ids)) != len(ids) or len(ids) > IN_LIMIT:
            # archiving reads every message's bytes; an id given twice changes twice;
            # more ids than one statement may bind
            return super().mark_sent_many(pairs, now=now)
        if not pairs:
            return []
        at = self._now(now)
        stamp = us(at)
        assert stamp is not None
        recorded: list[tuple[int, Status, Attempt]] = []
        for item_id, receipt in pairs:
            new, attempt, _ = sent_attempt(receipt, at)  # no archive here: its reply is not needed
            recorded.append((item_id, new, attempt))
        marks = ",".join("?" * len(ids))
        with self._write() as conn:
            found = dict(conn.execute(f"SELECT id, status FROM items WHERE id IN ({marks})", ids).fetchall())  # noqa: S608
            for item_id, new, _ in recorded:
                if item_id not in found:
                    raise ItemNotFoundError(f"no outbox item has id {item_id}")
                check_transition(item_id, Status(found[item_id]), new)
            conn.executemany(
                "UPDATE items SET status = ?, updated_at = ?, lease_until = NULL, next_attempt_at = NULL, "
                "reason = '', sent_at = ? WHERE id = ?",
                [(new.value, stamp, stamp, item_id) for item_id, new, _ in recorded],
            )
            insert_attempts(conn, [(item_id, attempt) for item_id, _, attempt in recorded])
            # read back as _set_status returns each: without the bytes
            changed = {item.id: item for item in load_items(conn, f"id IN ({marks})", ids, message=False)}
        return [changed[item_id] for item_id in ids]

    def release(
        self, item_ids: Iterable[int] = (), /, *, batch: str | None = None, now: datetime | None = None
    ) -> int:
        """Release items for sending, all in one durable commit (see :meth:`Outbox.release`)."""
        with self._write():
            return super().release(item_ids, batch=batch, now=now)

    def cancel(self, item_ids: Iterable[int], /, *, reason: str = "", now: datetime | None = None) -> int:
        """Withdraw items not sent yet, all in one durable commit (see :meth:`Outbox.cancel`)."""
        with self._write():
            return super().cancel(item_ids, reason=reason, now=now)

    # -- suppression, archive, purge ------------------------------------------------------------

    def is_suppressed(self, address: Address | str, /) -> SuppressionEntry | None:
        """The entry blocking ``address``, or ``None``."""
        # One statement reads one snapshot by itself: no BEGIN/COMMIT round for each
        # recipient of each message the dispatcher sends.
        row = (
            self._conn()
            .execute(
                "SELECT address, reason, note, added_at FROM suppression WHERE address = ?",
                (address_key(address),),
            )
            .fetchone()
        )
        return None if row is None else _suppression_entry(row)

    def suppressed_among(self, addresses: Iterable[AddressT], /) -> dict[AddressT, SuppressionEntry]:
        """The blocked ones of ``addresses``, in one query (see :meth:`Outbox.suppressed_among`)."""
        keys = keys_of(addresses)
        conn = self._conn()
        rows: list[Any] = []
        # Each statement reads its own snapshot: a new read transaction costs most
        # when another process has written since (the page cache is dropped),
        # so one statement covers the recipients of a whole claimed chunk.
        for part, marks in in_lists(list(keys)):
            sql = f"SELECT address, reason, note, added_at FROM suppression WHERE address IN ({marks})"  # noqa: S608
            rows += conn.execute(sql, part).fetchall()
        return as_given(keys, map(_suppression_entry, rows))

    def suppress(
        self,
        address: Address | str,
        /,
        reason: SuppressionReason | str = SuppressionReason.MANUAL,
        note: str = "",
        *,
        now: datetime | None = None,
    ) -> SuppressionEntry:
        """Block ``address``."""
        entry = SuppressionEntry(address_key(address), SuppressionReason(reason), note, self._now(now))
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO suppression (address, reason, note, added_at) VALUES (?, ?, ?, ?)",
                (entry.address, entry.reason.value, entry.note, us(entry.created_at or self._now(now))),
            )
        return entry

    def unsuppress(self, address: Address | str, /) -> bool:
        """Unblock ``address``."""
        with self._write() as conn:
            return (
                conn.execute("DELETE FROM suppression WHERE address = ?", (address_key(address),)).rowcount
                > 0
            )

    def suppressions(self) -> list[SuppressionEntry]:
        """Every blocked address, sorted."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT address, reason, note, added_at FROM suppression ORDER BY address"
            ).fetchall()
        return [_suppression_entry(r) for r in rows]

    def archived(self, item_id: int, /) -> ArchiveEntry | None:
        """The archived bytes sent for an item, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT item_id, message_id, sha256, data, reply, archived_at FROM archive WHERE item_id = ?",
                (item_id,),
            ).fetchone()
        return None if row is None else ArchiveEntry(row[0], row[1], row[2], row[3], row[4], dt_req(row[5]))

    def purge(self, older_than: datetime, /, *, items: bool = True, archives: bool = True) -> int:
        """Delete archives and final items last changed before ``older_than``."""
        cutoff = us(self._now(older_than))
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


def _use_wal(conn: sqlite3.Connection, path: Path, timeout: float) -> None:
    """Put the database in WAL mode, waiting up to *timeout* seconds for other connections.

    Changing the journal mode does not always wait in SQLite's busy handler: when
    several processes open a new outbox at once (a host and ``mailbill dispatch``,
    say), all but one could fail at once with "database is locked". So a busy
    answer is retried, with a growing pause, until the deadline.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            if time.monotonic() >= deadline:
                raise OutboxError(
                    f"outbox {path}: could not switch to WAL mode within {timeout:g} s; "
                    "another connection holds it"
                ) from exc
        time.sleep(delay)
        delay = min(2 * delay, 0.05)


def _suppression_entry(row: Any) -> SuppressionEntry:
    """A suppression list row (address, reason, note, added_at) as a :class:`SuppressionEntry`."""
    return SuppressionEntry(row[0], SuppressionReason(row[1]), row[2], dt_req(row[3]))
