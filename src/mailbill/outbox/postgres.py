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

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, LiteralString

from mailbill.errors import InvalidTransitionError, ItemNotFoundError, MissingDependencyError, OutboxError
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
from mailbill.outbox._postgres_rows import (
    ATTEMPT_COLUMNS,
    ITEM_COLUMNS,
    attempt_from_row,
    attempt_params,
    item_from_row,
)
from mailbill.outbox._postgres_schema import check_schema_name, migrate, notify_channel
from mailbill.outbox.base import _UNSET, Clock, Outbox, utc_now

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from mailbill._ratelimit import Rate
    from mailbill.outbox._postgres_ratelimit import PostgresRateLimiter

__all__ = ["ConnectionFactory", "PostgresOutbox"]

_ATTEMPTS_SQL: LiteralString = (
    "SELECT " + ATTEMPT_COLUMNS + " FROM {s}.attempts WHERE item_id = ANY(%s) ORDER BY id"  # noqa: S608
)

logger = logging.getLogger(__name__)

#: A function returning a new psycopg connection (for pools, SSL options, secrets from a vault).
ConnectionFactory = Callable[[], "psycopg.Connection[Any]"]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise MissingDependencyError("PostgresOutbox needs psycopg 3", extra="postgres") from exc
    return psycopg


def _mask(dsn: str) -> str:
    """The DSN with any password hidden, for repr and logs."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # an unparsable DSN is shown not at all rather than leaked
        return "<dsn>"
    if "password" in params:
        params["password"] = "***"  # noqa: S105
    return make_conninfo("", **params)


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
        pg = self._pg = _psycopg()
        self.schema = check_schema_name(schema)
        if isinstance(dsn_or_connection_factory, str):
            dsn = dsn_or_connection_factory
            self._where = _mask(dsn)
            self._factory: ConnectionFactory = lambda: pg.Connection.connect(dsn, autocommit=True)
        else:
            self._where = getattr(dsn_or_connection_factory, "__name__", "connection factory")
            self._factory = dsn_or_connection_factory
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._listener_lock = threading.Lock()
        self._sql: dict[str, sql.Composed] = {}
        self._ident = pg.sql.Identifier(schema)
        self._channel = notify_channel(schema)
        try:
            migrate(self._conn(), self.schema)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<PostgresOutbox {self._where} schema={self.schema!r}>"

    # -- connections and SQL ----------------------------------------------------------

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection from this outbox's DSN or factory, in autocommit mode (caller closes it)."""
        conn = self._factory()
        if not conn.autocommit:
            conn.autocommit = True
        return conn

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        # a connection inherited through fork() belongs to the parent: never reuse it
        if conn is None or conn.closed or self._local.pid != os.getpid():
            conn = self.connect()
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self, connection: psycopg.Connection[Any] | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A transaction on our connection, or a savepoint inside the host's open transaction."""
        conn = connection if connection is not None else self._conn()
        if connection is not None and not conn.autocommit and conn.info.transaction_status == _IDLE:
            # transaction() would BEGIN and COMMIT here, but only the host may commit: open the
            # host's transaction first, so that transaction() makes a savepoint inside it
            conn.execute("SELECT 1")
        try:
            with conn.transaction():
                yield conn
        except self._pg.Error as exc:
            # the database's own errors (connection lost, disk full) as the outbox's error
            raise OutboxError(f"PostgreSQL outbox (schema {self.schema!r}): {exc}") from exc

    def _q(self, template: LiteralString) -> sql.Composed:
        """``template`` with ``{s}`` replaced by this outbox's quoted schema name (cached)."""
        found = self._sql.get(template)
        if found is None:
            from psycopg import sql

            found = self._sql[template] = sql.SQL(template).format(s=self._ident)
        return found

    def close(self) -> None:
        """Close every connection this outbox opened (any thread's); the host's are left alone."""
        with self._all_lock:
            conns, self._all = self._all, []
        with self._listener_lock:
            if self._listener is not None:
                conns.append(self._listener)
                self._listener = None
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # -- rows ---------------------------------------------------------------------------

    def _load(
        self, conn: psycopg.Connection[Any], where: sql.Composable, params: Sequence[Any], *, message: bool
    ) -> list[OutboxItem]:
        from psycopg import sql

        query = sql.SQL("SELECT {cols} FROM {s}.items WHERE {where} ORDER BY created_at, id").format(
            cols=sql.SQL(ITEM_COLUMNS.format(message="message" if message else "NULL")),
            s=self._ident,
            where=where,
        )
        rows = conn.execute(query, params).fetchall()
        if not rows:
            return []
        attempts: dict[int, list[Attempt]] = {row[0]: [] for row in rows}
        for a in conn.execute(
            self._q(_ATTEMPTS_SQL),
            (list(attempts),),
        ):
            attempts[a[0]].append(attempt_from_row(a))
        return [item_from_row(r, attempts[r[0]]) for r in rows]

    def _load_ids(
        self, conn: psycopg.Connection[Any], ids: Sequence[int], *, message: bool
    ) -> list[OutboxItem]:
        from psycopg import sql

        return self._load(conn, sql.SQL("id = ANY(%s)"), (list(ids),), message=message)

    def _one(self, conn: psycopg.Connection[Any], item_id: int) -> OutboxItem:
        found = self._load_ids(conn, [item_id], message=True)
        if not found:
            raise ItemNotFoundError(f"no outbox item has id {item_id}")
        return found[0]

    def _latest(self, conn: psycopg.Connection[Any], keys: Sequence[str]) -> dict[str, OutboxItem]:
        ids = [
            row[0]
            for row in conn.execute(
                self._q(
                    "SELECT DISTINCT ON (key) id FROM {s}.items WHERE key = ANY(%s) "
                    "ORDER BY key, version DESC"
                ),
                (list(keys),),
            )
        ]
        return {item.key: item for item in self._load_ids(conn, ids, message=True)}

    def _insert_attempt(self, conn: psycopg.Connection[Any], item_id: int, attempt: Attempt) -> None:
        conn.execute(
            self._q(
                "INSERT INTO {s}.attempts (item_id, at, transport, outcome, smtp_code, enhanced_status, "
                "server_text, error_class, error_message, refused) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            attempt_params(item_id, attempt),
        )

    def _notify(self, conn: psycopg.Connection[Any]) -> None:
        # delivered when the surrounding transaction commits, never before
        conn.execute("SELECT pg_notify(%s, '')", (self._channel,))

    _INSERT: LiteralString = (
        "INSERT INTO {s}.items (key, version, status, message, mail_from, recipients, message_id, transport, "
        "smtputf8, batch, kind, reference, decision, reason, next_attempt_at, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT ON CONSTRAINT items_key_version DO NOTHING"
    )

    @staticmethod
    def _item_params(item: NewItem, version: int, at: datetime) -> tuple[Any, ...]:
        due = at if item.status is Status.RELEASED else None
        return (
            item.key, version, item.status.value, item.message, item.mail_from, list(item.recipients),
            item.message_id, item.transport, item.smtputf8, item.batch, item.kind, item.reference,
            item.decision, item.reason, due, at, at,
        )  # fmt: skip

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
        with self._tx(connection) as conn, conn.cursor() as cur:
            cur.executemany(self._q(self._INSERT), [self._item_params(item, 1, at) for item in given])
            latest = self._latest(conn, [item.key for item in given])
            if any(item.status is Status.RELEASED for item in given):
                self._notify(conn)
        return [latest[item.key] for item in given]

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
        with self._tx() as conn:
            # lock the latest version so two resends of one document make one new version
            row = conn.execute(
                self._q("SELECT id FROM {s}.items WHERE key = %s ORDER BY version DESC LIMIT 1 FOR UPDATE"),
                (key,),
            ).fetchone()
            if row is None:
                raise ItemNotFoundError(f"no outbox item has key {key!r}")
            latest = self._one(conn, row[0])
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
            conn.execute(self._q(self._INSERT), self._item_params(new, latest.version + 1, at))
            if status is Status.RELEASED:
                self._notify(conn)
            return self._latest(conn, [key])[key]

    # -- queries ------------------------------------------------------------------------

    def get(self, item_id: int, /) -> OutboxItem:
        """The item with this id, with its bytes."""
        with self._tx() as conn:
            return self._one(conn, item_id)

    def get_by_key(self, key: str, /, *, version: int | None = None) -> OutboxItem:
        """The latest (or given) version stored under ``key``, with its bytes."""
        from psycopg import sql

        with self._tx() as conn:
            if version is None:
                found = self._latest(conn, [key]).get(key)
            else:
                rows = self._load(conn, sql.SQL("key = %s AND version = %s"), (key, version), message=True)
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
        ids_query = sql.SQL(
            "SELECT id FROM {s}.items WHERE {w} ORDER BY created_at, id LIMIT %s OFFSET %s"
        ).format(s=self._ident, w=sql.SQL(" AND ").join(where))
        with self._tx() as conn:
            ids = [row[0] for row in conn.execute(ids_query, [*params, limit, offset])]
            return self._load_ids(conn, ids, message=False)

    def counts(self, *, batch: str | None = None) -> dict[Status, int]:
        """How many items have each status."""
        result = dict.fromkeys(Status, 0)
        with self._tx() as conn:
            rows = conn.execute(
                self._q(
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
        with self._tx() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    self._q(
                        "WITH due AS (SELECT id FROM {s}.items WHERE status IN ('released', 'deferred') "
                        "AND next_attempt_at <= %s AND (%s::text[] IS NULL OR transport = ANY(%s)) "
                        "ORDER BY next_attempt_at, created_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                        "UPDATE {s}.items AS i SET status = 'sending', lease_until = %s, updated_at = %s "
                        "FROM due WHERE i.id = due.id RETURNING i.id"
                    ),
                    (at, names, names, max(limit, 0), at + timedelta(seconds=lease_seconds), at),
                )
            ]
            claimed = self._load_ids(conn, ids, message=True) if ids else []
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
        with self._tx() as conn:
            rows = conn.execute(
                self._q(
                    "WITH gone AS (SELECT id FROM {s}.items WHERE status = 'sending' "
                    "AND (%s OR lease_until IS NULL OR lease_until <= %s) FOR UPDATE SKIP LOCKED) "
                    "UPDATE {s}.items AS i SET status = %s, lease_until = NULL, updated_at = %s, "
                    "next_attempt_at = %s, reason = 'lease expired while sending' "
                    "FROM gone WHERE i.id = gone.id RETURNING i.id, i.transport"
                ),
                (include_unexpired, at, new.value, at, at if new is Status.RELEASED else None),
            ).fetchall()
            for item_id, transport in rows:
                self._insert_attempt(
                    conn, item_id, Attempt(at, transport, new, error_message="lease expired")
                )
            if rows and new is Status.RELEASED:
                self._notify(conn)
            recovered = self._load_ids(conn, [row[0] for row in rows], message=False)
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
        with self._tx() as conn:
            row = conn.execute(
                self._q("SELECT status FROM {s}.items WHERE id = %s FOR UPDATE"), (item_id,)
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
                self._q(
                    "UPDATE {s}.items SET status = %s, updated_at = %s, lease_until = NULL, "
                    "next_attempt_at = CASE WHEN %s THEN next_attempt_at ELSE %s END, "
                    "reason = coalesce(%s, reason), sent_at = coalesce(%s, sent_at) WHERE id = %s"
                ),
                (new.value, now, keep_due, None if keep_due else next_attempt_at, reason, sent_at, item_id),
            )
            if attempt is not None:
                self._insert_attempt(conn, item_id, attempt)
            if archive_reply is not None and self.archive:
                data, message_id = conn.execute(
                    self._q("SELECT message, message_id FROM {s}.items WHERE id = %s"), (item_id,)
                ).fetchone() or (b"", "")
                conn.execute(
                    self._q(
                        "INSERT INTO {s}.archive (item_id, message_id, sha256, data, reply, archived_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (item_id) DO UPDATE SET "
                        "message_id = EXCLUDED.message_id, sha256 = EXCLUDED.sha256, data = EXCLUDED.data, "
                        "reply = EXCLUDED.reply, archived_at = EXCLUDED.archived_at"
                    ),
                    (item_id, message_id, ArchiveEntry.digest(bytes(data)), data, archive_reply, now),
                )
            if new is Status.RELEASED:
                self._notify(conn)
            return self._one(conn, item_id)

    # -- notification and shared limits ---------------------------------------------------

    def wait_for_work(self, timeout: float, /, *, stop: threading.Event | None = None) -> bool:
        """Sleep until items are released (``LISTEN``), ``timeout`` passes, or ``stop`` is set.

        A worker calls it between polls: it wakes at once when anyone releases
        or adds released items, and still returns after ``timeout`` so polling
        remains the safety net (deferred items falling due send no notice).

        Returns:
            Whether a notice arrived.
        """
        deadline = _monotonic() + max(timeout, 0.0)
        with self._listener_lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self.connect()
                    self._listener.execute(_listen(self._channel))
                listener = self._listener
                while True:
                    left = deadline - _monotonic()
                    if left <= 0 or (stop is not None and stop.is_set()):
                        return False
                    # short slices so that a stop request is seen within a quarter second
                    for _ in listener.notifies(timeout=min(left, 0.25), stop_after=1):
                        return True
            except self._pg.Error as exc:
                # the database went away: sleep out the poll interval; the next call listens again
                logger.warning("LISTEN on %s failed (%s); polling instead", self._channel, exc)
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
        left = max(deadline - _monotonic(), 0.0)
        if stop is not None:
            stop.wait(left)
        else:
            _sleep(left)
        return False

    def rate_limiter(self, account: str, rates: Iterable[Rate | str], /) -> PostgresRateLimiter:
        """A rate limiter for ``account`` shared by every worker on this database.

        Its signature fits the Dispatcher's ``limiter_factory``.
        """
        from mailbill.outbox._postgres_ratelimit import PostgresRateLimiter

        return PostgresRateLimiter(self, account, rates)

    # -- suppression, archive, purge --------------------------------------------------------

    def is_suppressed(self, address: str, /) -> SuppressionEntry | None:
        """The entry blocking ``address``, or ``None``."""
        with self._tx() as conn:
            row = conn.execute(
                self._q("SELECT address, reason, note, added_at FROM {s}.suppression WHERE address = %s"),
                (address.strip().casefold(),),
            ).fetchone()
        return (
            None if row is None else SuppressionEntry(row[0], SuppressionReason(row[1]), row[2], _utc(row[3]))
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
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO {s}.suppression (address, reason, note, added_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (address) DO UPDATE SET reason = EXCLUDED.reason, note = EXCLUDED.note, "
                    "added_at = EXCLUDED.added_at"
                ),
                (entry.address, entry.reason.value, entry.note, entry.added_at),
            )
        return entry

    def unsuppress(self, address: str, /) -> bool:
        """Unblock ``address``."""
        with self._tx() as conn:
            cur = conn.execute(
                self._q("DELETE FROM {s}.suppression WHERE address = %s"), (address.strip().casefold(),)
            )
            return cur.rowcount > 0

    def suppressions(self) -> list[SuppressionEntry]:
        """Every blocked address, sorted."""
        with self._tx() as conn:
            rows = conn.execute(
                self._q("SELECT address, reason, note, added_at FROM {s}.suppression ORDER BY address")
            ).fetchall()
        return [SuppressionEntry(r[0], SuppressionReason(r[1]), r[2], _utc(r[3])) for r in rows]

    def archived(self, item_id: int, /) -> ArchiveEntry | None:
        """The archived bytes sent for an item, or ``None``."""
        with self._tx() as conn:
            row = conn.execute(
                self._q(
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
        with self._tx() as conn:
            if archives:
                deleted += conn.execute(
                    self._q("DELETE FROM {s}.archive WHERE archived_at < %s"), (cutoff,)
                ).rowcount
            if items:
                deleted += conn.execute(
                    self._q(
                        "DELETE FROM {s}.archive WHERE item_id IN "
                        "(SELECT id FROM {s}.items WHERE status = ANY(%s) AND updated_at < %s)"
                    ),
                    (finals, cutoff),
                ).rowcount
                deleted += conn.execute(
                    self._q("DELETE FROM {s}.items WHERE status = ANY(%s) AND updated_at < %s"),
                    (finals, cutoff),
                ).rowcount
        return deleted


_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE, without importing psycopg at import time


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _monotonic() -> float:
    return time.monotonic()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _listen(channel: str) -> sql.Composed:
    from psycopg import sql

    return sql.SQL("LISTEN {}").format(sql.Identifier(channel))
