"""The shared outbox on PostgreSQL: many dispatchers on many machines, enqueued in the host's transaction.

- ``claim`` takes due rows with ``SELECT ... FOR UPDATE SKIP LOCKED``: workers
  never wait for each other and never get the same item.
- ``add`` is idempotent through the unique constraint on ``(key, version)`` and
  ``INSERT ... ON CONFLICT DO NOTHING``: two workers adding the same dunning run
  at once store each letter once, with no read-then-write race.
- ``add(item, connection=host_conn)`` writes on the host's own connection and
  does not commit: the mail exists exactly when the host's invoice commits.
- Releasing items sends a ``NOTIFY``; :meth:`PostgresOutbox.wait_for_work` wakes
  a sleeping worker on it (polling stays as the safety net).
- Times are ``timestamptz`` (microseconds), read back as aware UTC datetimes.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailbill._models import Address
from mailbill.errors import InvalidTransitionError, ItemNotFoundError
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
from mailbill.outbox._postgres_db import ConnectionFactory, Database, import_psycopg, mask_dsn
from mailbill.outbox._postgres_rows import (
    INSERT_ITEM,
    insert_attempt,
    item_params,
    latest,
    load,
    load_ids,
    one,
)
from mailbill.outbox._postgres_schema import check_schema_name, migrate
from mailbill.outbox.base import _UNSET, AddressT, Clock, Outbox, address_key, as_given, keys_of, utc_now

if TYPE_CHECKING:
    import psycopg

    from mailbill._ratelimit import Rate
    from mailbill.outbox._postgres_ratelimit import PostgresRateLimiter

__all__ = ["ConnectionFactory", "PostgresOutbox"]


class PostgresOutbox(Outbox):
    """An :class:`~mailbill.Outbox` in PostgreSQL, shared by any number of workers.

    Example:
        >>> outbox = PostgresOutbox("postgresql://mailbill@db/erp")  # doctest: +SKIP
        >>> with host_conn.transaction():  # doctest: +SKIP
        ...     host_conn.execute("INSERT INTO invoices ...")
        ...     outbox.add(item, connection=host_conn)  # there exactly when the invoice is

    Args:
        dsn_or_connection_factory: A libpq connection string or URL, or a function
            returning a new ``psycopg.Connection``.
        schema: The PostgreSQL schema holding the outbox's tables (created and
            migrated on first use).
        clock: Returns "now" (aware UTC) when a method gets no ``now``.
        archive: Keep an archive of the exact bytes sent.

    Raises:
        MissingDependencyError: psycopg is not installed (``mailbill[postgres]``).
        ConfigurationError: the schema name is not a plain identifier.
    """

    def __init__(
        self,
        dsn_or_connection_factory: str | ConnectionFactory,
        /,
        *,
        schema: str = "mailbill",
        clock: Clock = utc_now,
        archive: bool = False,
    ) -> None:
        super().__init__(clock=clock, archive=archive)
        pg = import_psycopg()
        self.schema = check_schema_name(schema)
        if isinstance(dsn_or_connection_factory, str):
            dsn = dsn_or_connection_factory
            self._where = mask_dsn(dsn)

            def factory() -> psycopg.Connection[Any]:
                return pg.Connection.connect(dsn, autocommit=True)  # type: ignore[no-any-return]
        else:
            self._where = getattr(dsn_or_connection_factory, "__name__", "connection factory")
            factory = dsn_or_connection_factory
        self._db = Database(factory, self.schema)
        try:
            migrate(self._db.conn(), self.schema)
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"<PostgresOutbox {self._where} schema={self.schema!r}>"

    # -- connections -------------------------------------------------------------------

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection from this outbox's DSN or factory, in autocommit mode (caller closes it)."""
        return self._db.connect()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for the changes made in the block (see :meth:`Outbox.transaction`).

        Each change inside is a savepoint of it.
        """
        with self._db.tx():
            yield

    def close(self) -> None:
        """Close every connection this outbox opened (any thread's); the host's are left alone."""
        self._db.close()

    # -- adding -------------------------------------------------------------------------

    def add(
        self,
        item: NewItem,
        /,
        *,
        now: datetime | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> OutboxItem:
        """Store one item, or return the one stored under its key (see :meth:`Outbox.add`).

        Args:
            item: What to store.
            now: The time of adding (default: the clock).
            connection: The host's own psycopg connection: the item is written in
                the host's current transaction (a savepoint inside it) and is not
                committed here, so it exists exactly when the host commits.
        """
        return self.add_many([item], now=now, connection=connection)[0]

    def add_many(
        self,
        items: Iterable[NewItem],
        /,
        *,
        now: datetime | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> list[OutboxItem]:
        """Store many items in one transaction, idempotently on the business key.

        Args:
            items: What to store.
            now: The time of adding (default: the clock).
            connection: The host's own connection (see :meth:`add`).
        """
        at = self._now(now)
        given = list(items)
        if not given:
            return []
        with self._db.tx(connection) as conn, conn.cursor() as cur:
            cur.executemany(self._db.q(INSERT_ITEM), [item_params(item, 1, at) for item in given])
            stored = latest(self._db, conn, [item.key for item in given])
            if any(item.status is Status.RELEASED for item in given):
                self._db.notify(conn)
        return [stored[item.key] for item in given]

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
        with self._db.tx() as conn:
            # lock the latest version so two resends of one document make one new version
            row = conn.execute(
                self._db.q(
                    "SELECT id FROM {s}.items WHERE key = %s ORDER BY version DESC LIMIT 1 FOR UPDATE"
                ),
                (key,),
            ).fetchone()
            if row is None:
                raise ItemNotFoundError(f"no outbox item has key {key!r}")
            current = one(self._db, conn, row[0])
            if current.status not in FINAL_STATUSES:
                state = current.status.value
                raise InvalidTransitionError(
                    f"outbox item {current.id} ({key!r}) is {state}; resend only a finished one"
                )
            new = next_version(current, item, status=status)
            conn.execute(self._db.q(INSERT_ITEM), item_params(new, current.version + 1, at))
            if status is Status.RELEASED:
                self._db.notify(conn)
            return latest(self._db, conn, [key])[key]

    # -- queries ------------------------------------------------------------------------

    def get(self, item_id: int, /) -> OutboxItem:
        """The item with this id, with its bytes."""
        with self._db.tx() as conn:
            return one(self._db, conn, item_id)

    def get_by_key(self, key: str, /, *, version: int | None = None) -> OutboxItem:
        """The latest (or given) version stored under ``key``, with its bytes."""
        from psycopg import sql

        with self._db.tx() as conn:
            if version is None:
                found = latest(self._db, conn, [key]).get(key)
            else:
                rows = load(
                    self._db, conn, sql.SQL("key = %s AND version = %s"), (key, version), message=True
                )
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
        from psycopg import sql

        where: list[sql.Composable] = [sql.SQL("TRUE")]
        params: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, Status) else list(status)
            where.append(sql.SQL("status = ANY(%s)"))
            params.append([Status(s).value for s in statuses])
        for column, value in (
            ("batch", batch),
            ("key", key),
            ("reference", reference),
            ("kind", kind),
            ("transport", transport),
        ):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        ids_query = (
            self._db.q("SELECT id FROM {s}.items WHERE ")
            + sql.SQL(" AND ").join(where)
            + sql.SQL(" ORDER BY created_at, id LIMIT %s OFFSET %s")
        )
        with self._db.tx() as conn:
            ids = [row[0] for row in conn.execute(ids_query, [*params, limit, offset])]
            return load_ids(self._db, conn, ids, message=False)

    def counts(self, *, batch: str | None = None) -> dict[Status, int]:
        """How many items have each status."""
        result = dict.fromkeys(Status, 0)
        with self._db.tx() as conn:
            rows = conn.execute(
                self._db.q(
                    "SELECT status, count(*) FROM {s}.items "
                    "WHERE %s::text IS NULL OR batch = %s GROUP BY status"
                ),
                (batch, batch),
            )
            for status, count in rows:
                result[Status(status)] = count
        return result

    # -- the dispatcher's side ------------------------------------------------------------

    def claim(
        self,
        limit: int,
        /,
        *,
        lease_seconds: float,
        transports: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Hand up to ``limit`` due items to the caller as SENDING (``FOR UPDATE SKIP LOCKED``)."""
        at = self._now(now)
        names = None if transports is None else list(transports)
        with self._db.tx() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    self._db.q(
                        "WITH due AS (SELECT id FROM {s}.items WHERE status IN ('released', 'deferred') "
                        "AND next_attempt_at <= %s AND (%s::text[] IS NULL OR transport = ANY(%s)) "
                        "ORDER BY next_attempt_at, created_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                        "UPDATE {s}.items AS i SET status = 'sending', lease_until = %s, updated_at = %s "
                        "FROM due WHERE i.id = due.id RETURNING i.id"
                    ),
                    (at, names, names, max(limit, 0), at + timedelta(seconds=lease_seconds), at),
                )
            ]
            claimed = load_ids(self._db, conn, ids, message=True) if ids else []
        return sorted(claimed, key=lambda i: (i.next_attempt_at or at, i.created_at, i.id))

    def recover(
        self,
        *,
        policy: RecoveryPolicy = RecoveryPolicy.UNCERTAIN,
        include_unexpired: bool = False,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Take back SENDING items whose lease expired (rows another worker holds are skipped)."""
        at = self._now(now)
        new = Status.UNCERTAIN if policy is RecoveryPolicy.UNCERTAIN else Status.RELEASED
        with self._db.tx() as conn:
            rows = conn.execute(
                self._db.q(
                    "WITH gone AS (SELECT id FROM {s}.items WHERE status = 'sending' "
                    "AND (%s OR lease_until IS NULL OR lease_until <= %s) FOR UPDATE SKIP LOCKED) "
                    "UPDATE {s}.items AS i SET status = %s, lease_until = NULL, updated_at = %s, "
                    "next_attempt_at = %s, reason = 'lease expired while sending' "
                    "FROM gone WHERE i.id = gone.id RETURNING i.id, i.transport"
                ),
                (include_unexpired, at, new.value, at, at if new is Status.RELEASED else None),
            ).fetchall()
            for item_id, transport in rows:
                insert_attempt(
                    self._db, conn, item_id, Attempt(at, transport, new, error_message="lease expired")
                )
            if rows and new is Status.RELEASED:
                self._db.notify(conn)
            recovered = load_ids(self._db, conn, [row[0] for row in rows], message=False)
        return sorted(recovered, key=lambda i: i.id)

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
        with self._db.tx() as conn:
            row = conn.execute(
                self._db.q("SELECT status FROM {s}.items WHERE id = %s FOR UPDATE"), (item_id,)
            ).fetchone()
            if row is None:
                raise ItemNotFoundError(f"no outbox item has id {item_id}")
            old = Status(row[0])
            check_transition(item_id, old, new)
            if allowed_from is not None and old not in allowed_from:
                raise InvalidTransitionError(
                    f"outbox item {item_id}: {old.value} cannot be changed to {new.value} this way"
                )
            keep_due = next_attempt_at is _UNSET
            conn.execute(
                self._db.q(
                    "UPDATE {s}.items SET status = %s, updated_at = %s, lease_until = NULL, "
                    "next_attempt_at = CASE WHEN %s THEN next_attempt_at ELSE %s END, "
                    "reason = coalesce(%s, reason), sent_at = coalesce(%s, sent_at) WHERE id = %s"
                ),
                (new.value, now, keep_due, None if keep_due else next_attempt_at, reason, sent_at, item_id),
            )
            if attempt is not None:
                insert_attempt(self._db, conn, item_id, attempt)
            if archive_reply is not None and self.archive:
                data, message_id = conn.execute(
                    self._db.q("SELECT message, message_id FROM {s}.items WHERE id = %s"), (item_id,)
                ).fetchone() or (b"", "")
                conn.execute(
                    self._db.q(
                        "INSERT INTO {s}.archive (item_id, message_id, sha256, data, reply, archived_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (item_id) DO UPDATE SET "
                        "message_id = EXCLUDED.message_id, sha256 = EXCLUDED.sha256, data = EXCLUDED.data, "
                        "reply = EXCLUDED.reply, archived_at = EXCLUDED.archived_at"
                    ),
                    (item_id, message_id, ArchiveEntry.digest(bytes(data)), data, archive_reply, now),
                )
            if new is Status.RELEASED:
                self._db.notify(conn)
            return one(self._db, conn, item_id, message=False)

    # -- notification and shared limits ---------------------------------------------------

    def wait_for_work(self, timeout: float, /, *, stop: threading.Event | None = None) -> bool:
        """Sleep until items are released (``LISTEN``), ``timeout`` passes, or ``stop`` is set.

        A worker calls it between polls: it wakes at once when anyone releases
        or adds released items, and still returns after ``timeout`` so polling
        remains the safety net (deferred items falling due send no notice).

        Returns:
            Whether a notice arrived.
        """
        return self._db.wait(timeout, stop)

    def rate_limiter(self, account: str, rates: Iterable[Rate | str], /) -> PostgresRateLimiter:
        """A rate limiter for ``account`` shared by every worker on this database.

        Its signature fits the Dispatcher's ``limiter_factory``.
        """
        from mailbill.outbox._postgres_ratelimit import PostgresRateLimiter

        return PostgresRateLimiter(self, account, rates)

    # -- suppression, archive, purge --------------------------------------------------------

    def is_suppressed(self, address: Address | str, /) -> SuppressionEntry | None:
        """The entry blocking ``address``, or ``None``."""
        with self._db.tx() as conn:
            row = conn.execute(
                self._db.q("SELECT address, reason, note, added_at FROM {s}.suppression WHERE address = %s"),
                (address_key(address),),
            ).fetchone()
        return None if row is None else _suppression_entry(row)

    def suppressed_among(self, addresses: Iterable[AddressT], /) -> dict[AddressT, SuppressionEntry]:
        """The blocked ones of ``addresses``, in one query (see :meth:`Outbox.suppressed_among`)."""
        keys = keys_of(addresses)
        if not keys:
            return {}
        with self._db.tx() as conn:
            rows = conn.execute(
                self._db.q(
                    "SELECT address, reason, note, added_at FROM {s}.suppression WHERE address = ANY(%s)"
                ),
                (list(keys),),
            ).fetchall()
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
        with self._db.tx() as conn:
            conn.execute(
                self._db.q(
                    "INSERT INTO {s}.suppression (address, reason, note, added_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (address) DO UPDATE SET reason = EXCLUDED.reason, note = EXCLUDED.note, "
                    "added_at = EXCLUDED.added_at"
                ),
                (entry.address, entry.reason.value, entry.note, entry.created_at or self._now(now)),
            )
        return entry

    def unsuppress(self, address: Address | str, /) -> bool:
        """Unblock ``address``."""
        with self._db.tx() as conn:
            cur = conn.execute(
                self._db.q("DELETE FROM {s}.suppression WHERE address = %s"), (address_key(address),)
            )
            return cur.rowcount > 0

    def suppressions(self) -> list[SuppressionEntry]:
        """Every blocked address, sorted."""
        with self._db.tx() as conn:
            rows = conn.execute(
                self._db.q("SELECT address, reason, note, added_at FROM {s}.suppression ORDER BY address")
            ).fetchall()
        return [_suppression_entry(r) for r in rows]

    def archived(self, item_id: int, /) -> ArchiveEntry | None:
        """The archived bytes sent for an item, or ``None``."""
        with self._db.tx() as conn:
            row = conn.execute(
                self._db.q(
                    "SELECT item_id, message_id, sha256, data, reply, archived_at "
                    "FROM {s}.archive WHERE item_id = %s"
                ),
                (item_id,),
            ).fetchone()
        return (
            None if row is None else ArchiveEntry(row[0], row[1], row[2], bytes(row[3]), row[4], _utc(row[5]))
        )

    def purge(self, older_than: datetime, /, *, items: bool = True, archives: bool = True) -> int:
        """Delete archives and final items last changed before ``older_than``."""
        cutoff = self._now(older_than)
        finals = [s.value for s in FINAL_STATUSES]
        deleted = 0
        with self._db.tx() as conn:
            if archives:
                deleted += conn.execute(
                    self._db.q("DELETE FROM {s}.archive WHERE archived_at < %s"), (cutoff,)
                ).rowcount
            if items:
                deleted += conn.execute(
                    self._db.q(
                        "DELETE FROM {s}.archive WHERE item_id IN "
                        "(SELECT id FROM {s}.items WHERE status = ANY(%s) AND updated_at < %s)"
                    ),
                    (finals, cutoff),
                ).rowcount
                deleted += conn.execute(
                    self._db.q("DELETE FROM {s}.items WHERE status = ANY(%s) AND updated_at < %s"),
                    (finals, cutoff),
                ).rowcount
        return deleted


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _suppression_entry(row: Any) -> SuppressionEntry:
    """A suppression list row (address, reason, note, added_at) as a :class:`SuppressionEntry`."""
    return SuppressionEntry(row[0], SuppressionReason(row[1]), row[2], _utc(row[3]))
