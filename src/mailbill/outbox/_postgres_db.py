"""The PostgreSQL outbox's connections: one per thread, transactions, SQL in the schema, LISTEN/NOTIFY."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, LiteralString

from mailbill.errors import MissingDependencyError, OutboxError
from mailbill.outbox._postgres_schema import notify_channel

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["ConnectionFactory", "Database", "import_psycopg", "mask_dsn"]

logger = logging.getLogger(__name__)

#: A function returning a new psycopg connection (for pools, SSL options, secrets from a vault).
ConnectionFactory = Callable[[], "psycopg.Connection[Any]"]

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE, without importing psycopg at import time


def import_psycopg() -> Any:
    """The psycopg module, or MissingDependencyError naming the extra to install."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise MissingDependencyError("PostgresOutbox needs psycopg 3", extra="postgres") from exc
    return psycopg


def mask_dsn(dsn: str) -> str:
    """The DSN with any password hidden, for repr and logs."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # an unparsable DSN is shown not at all rather than leaked
        return "<dsn>"
    if "password" in params:
        params["password"] = "***"  # noqa: S105
    return make_conninfo("", **params)


class Database:
    """Connections to one outbox schema, shared by the threads of one process.

    Args:
        factory: Makes a new connection.
        schema: The (checked) schema name.
    """

    def __init__(self, factory: ConnectionFactory, schema: str) -> None:
        self._pg = import_psycopg()
        self._factory = factory
        self.schema = schema
        self.channel = notify_channel(schema)
        self._ident = self._pg.sql.Identifier(schema)
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._listener_lock = threading.Lock()
        self._sql: dict[str, sql.Composed] = {}

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection in autocommit mode (the caller closes it)."""
        conn = self._factory()
        if not conn.autocommit:
            conn.autocommit = True
        return conn

    def conn(self) -> psycopg.Connection[Any]:
        """The calling thread's connection, opened (again) when needed."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        # a connection inherited through fork() belongs to the parent: never reuse it
        if conn is None or conn.closed or self._local.pid != os.getpid():
            conn = self.connect()
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def tx(self, connection: psycopg.Connection[Any] | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A transaction on this thread's connection, or a savepoint inside the host's transaction.

        The database's own errors (connection lost, disk full) come out as OutboxError.
        """
        conn = connection if connection is not None else self.conn()
        if connection is not None and not conn.autocommit and conn.info.transaction_status == _IDLE:
            # transaction() would BEGIN and COMMIT here, but only the host may commit: open the
            # host's transaction first, so that transaction() makes a savepoint inside it
            conn.execute("SELECT 1")
        try:
            with conn.transaction():
                yield conn
        except self._pg.Error as exc:
            raise OutboxError(f"PostgreSQL outbox (schema {self.schema!r}): {exc}") from exc

    def q(self, template: LiteralString) -> sql.Composed:
        """``template`` with ``{s}`` replaced by the quoted schema name (cached)."""
        found = self._sql.get(template)
        if found is None:
            found = self._sql[template] = self._pg.sql.SQL(template).format(s=self._ident)
        return found

    def notify(self, conn: psycopg.Connection[Any]) -> None:
        """Announce released items; delivered when the surrounding transaction commits, never before."""
        conn.execute("SELECT pg_notify(%s, '')", (self.channel,))

    def wait(self, timeout: float, stop: threading.Event | None) -> bool:
        """Wait for a notice on :attr:`channel` (see ``PostgresOutbox.wait_for_work``)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._listener_lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self.connect()
                    self._listener.execute(
                        self._pg.sql.SQL("LISTEN {}").format(self._pg.sql.Identifier(self.channel))
                    )
                listener = self._listener
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or (stop is not None and stop.is_set()):
                        return False
                    # short slices so that a stop request is seen within a quarter second
                    # run each generator to its end: psycopg allows one at a time per connection
                    got = list(listener.notifies(timeout=min(left, 0.25), stop_after=1))
                    if got:
                        # a release of 2,000 items sends 2,000 notices: one wake-up is enough
                        for _ in listener.notifies(timeout=0.01):
                            pass
                        return True
            except self._pg.Error as exc:
                # the database went away: sleep out the poll interval; the next call listens again
                logger.warning("LISTEN on %s failed (%s); polling instead", self.channel, exc)
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
        left = max(deadline - time.monotonic(), 0.0)
        if stop is not None:
            stop.wait(left)
        else:
            time.sleep(left)
        return False

    @property
    def listener(self) -> psycopg.Connection[Any] | None:
        """The LISTEN connection, once :meth:`wait` opened it."""
        return self._listener

    def close(self) -> None:
        """Close every connection opened here (any thread's)."""
        with self._all_lock:
            conns, self._all = self._all, []
        with self._listener_lock:
            if self._listener is not None:
                conns.append(self._listener)
                self._listener = None
        for conn in conns:
            conn.close()
        self._local = threading.local()
