"""What only the PostgreSQL outbox promises: migrations, the host's transaction, LISTEN/NOTIFY."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from conformance import new_item
from psycopg import sql

from mailbill import Dispatcher, MissingDependencyError, OutboxError, Status
from mailbill.errors import ConfigurationError
from mailbill.outbox import PostgresOutbox
from mailbill.outbox._postgres_schema import SCHEMA_VERSION
from mailbill.testing import MemoryTransport

pytestmark = pytest.mark.postgres


def _versions(dsn: str, schema: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT version FROM {}.schema_version ORDER BY version").format(
            sql.Identifier(schema)
        )
        return [row[0] for row in conn.execute(query)]


def test_workers_starting_at_once_migrate_once(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that many outboxes opening a new schema at once create it once, without errors."""
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        try:
            start.wait()
            PostgresOutbox(pg_dsn, schema=pg_schema).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _versions(pg_dsn, pg_schema) == list(range(1, SCHEMA_VERSION + 1))


def test_a_newer_schema_is_refused(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that a schema written by a newer mailbill is not touched."""
    PostgresOutbox(pg_dsn, schema=pg_schema).close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.schema_version (version) VALUES (%s)").format(sql.Identifier(pg_schema)),
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(OutboxError, match="upgrade mailbill"):
        PostgresOutbox(pg_dsn, schema=pg_schema)


def test_bad_schema_names_and_missing_psycopg_say_what_to_do(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This test ensures that a bad schema name and a missing psycopg raise early with a clear reason."""
    with pytest.raises(ConfigurationError, match="schema name"):
        PostgresOutbox(pg_dsn, schema='x"; DROP TABLE y')
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"mailbill\[postgres\]"):
        PostgresOutbox(pg_dsn)


def test_repr_hides_the_password(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that a password in the DSN never shows in the outbox's repr."""
    dsn = pg_dsn.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
    with PostgresOutbox(dsn, schema=pg_schema) as outbox:
        assert "s3cret-pw" not in repr(outbox)
        assert pg_schema in repr(outbox)


def test_add_in_the_hosts_transaction_exists_only_when_it_commits(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that an item added on the host's connection is rolled back or committed with it."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox, psycopg.connect(pg_dsn) as host:
        host.execute("CREATE TEMP TABLE invoices (number int)")
        host.commit()
        # rollback: neither the invoice nor its mail
        host.execute("INSERT INTO invoices VALUES (1)")
        outbox.add(new_item(1, status=Status.RELEASED), connection=host)
        assert outbox.counts()[Status.RELEASED] == 0  # not visible before the host commits
        host.rollback()
        assert sum(outbox.counts().values()) == 0
        # commit: both
        host.execute("INSERT INTO invoices VALUES (2)")
        item = outbox.add(new_item(2, status=Status.RELEASED), connection=host)
        assert item.status is Status.RELEASED
        host.commit()
        assert outbox.get(item.id).key == "invoice/2"
        assert [i.key for i in outbox.claim(5, lease_seconds=60)] == ["invoice/2"]


def test_add_inside_an_explicit_host_transaction_block(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that an exception in the host's transaction block takes the item with it."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox, psycopg.connect(pg_dsn, autocommit=True) as host:

        def failing_run() -> None:
            with host.transaction():
                outbox.add_many([new_item(1), new_item(2)], connection=host)
                raise RuntimeError("invoice run failed")

        with pytest.raises(RuntimeError):
            failing_run()
        assert sum(outbox.counts().values()) == 0
        with host.transaction():
            outbox.add_many([new_item(1), new_item(2)], connection=host)
        assert outbox.counts()[Status.DRAFT] == 2


def test_release_wakes_a_waiting_worker_and_only_on_commit(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that wait_for_work wakes on a release, not on a rolled-back add, and times out."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as worker, PostgresOutbox(pg_dsn, schema=pg_schema) as ui:
        assert worker.wait_for_work(0.05) is False  # starts listening; nothing yet
        draft = ui.add(new_item(1))
        assert worker.wait_for_work(0.2) is False  # a draft is not work
        with psycopg.connect(pg_dsn) as host:
            ui.add(new_item(2, status=Status.RELEASED), connection=host)
            host.rollback()
        assert worker.wait_for_work(0.2) is False
        woke: list[float] = []

        def wait() -> None:
            t0 = time.monotonic()
            if worker.wait_for_work(10):
                woke.append(time.monotonic() - t0)

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.1)
        ui.release([draft.id])
        thread.join(5)
        assert woke
        assert woke[0] < 5


def test_a_stop_request_ends_the_wait(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that wait_for_work returns soon after its stop event is set."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        t0 = time.monotonic()
        assert outbox.wait_for_work(30, stop=stop) is False
        assert time.monotonic() - t0 < 2


def test_run_forever_sends_released_mail_without_waiting_for_the_poll(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that a dispatcher sleeping in run_forever sends a new release at once."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        transport = MemoryTransport(name="smtp")
        dispatcher = Dispatcher(outbox, transport, limiter_factory=outbox.rate_limiter)
        stop = threading.Event()
        thread = threading.Thread(target=dispatcher.run_forever, kwargs={"poll_interval": 60, "stop": stop})
        thread.start()
        try:
            time.sleep(0.3)  # the first run found nothing; now it sleeps for up to 60 s
            item = outbox.add(new_item(1, status=Status.RELEASED))
            deadline = time.monotonic() + 10
            while outbox.get(item.id).status is not Status.SENT and time.monotonic() < deadline:
                time.sleep(0.05)
            assert outbox.get(item.id).status is Status.SENT
            assert len(transport.outbox) == 1
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()


def test_a_connection_factory_is_used_for_every_connection(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that an outbox made from a factory opens its connections through it."""
    opened: list[psycopg.Connection[tuple[object, ...]]] = []

    def factory() -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(pg_dsn)
        opened.append(conn)
        return conn

    connect: Callable[[], psycopg.Connection[tuple[object, ...]]] = factory
    with PostgresOutbox(connect, schema=pg_schema) as outbox:
        outbox.add(new_item(1))
        assert outbox.counts()[Status.DRAFT] == 1
    assert opened
    assert all(conn.closed for conn in opened)


def _terminate(dsn: str, pid: int) -> None:
    """End the server process of a connection, and wait until it is gone.

    pg_terminate_backend only signals the process. On a loaded machine it may
    still be exiting when the test goes on, and the client would then notice
    the lost connection one step later than the test expects.
    """
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} did not end"
            time.sleep(0.01)


def test_a_lost_connection_is_an_outbox_error_and_is_replaced(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that a dropped connection raises OutboxError once, then a new one is used."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        outbox.add(new_item(1))
        _terminate(pg_dsn, outbox._db.conn().info.backend_pid)
        with pytest.raises(OutboxError, match="PostgreSQL outbox"):
            outbox.counts()
        assert outbox.counts()[Status.DRAFT] == 1


def test_a_lost_listener_falls_back_to_polling_and_listens_again(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that wait_for_work survives a dropped LISTEN connection and wakes again later."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as worker, PostgresOutbox(pg_dsn, schema=pg_schema) as ui:
        assert worker.wait_for_work(0.01) is False
        assert worker._db.listener is not None
        _terminate(pg_dsn, worker._db.listener.info.backend_pid)
        t0 = time.monotonic()
        assert worker.wait_for_work(0.3) is False  # waited out, as a poll
        assert time.monotonic() - t0 >= 0.25
        assert worker.wait_for_work(0.01) is False  # listening again
        ui.add(new_item(1, status=Status.RELEASED))
        assert worker.wait_for_work(5) is True


def test_many_notices_wake_a_worker_once(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that releasing many items one by one wakes a sleeping worker once, not once each."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as worker, PostgresOutbox(pg_dsn, schema=pg_schema) as ui:
        assert worker.wait_for_work(0.01) is False
        items = ui.add_many([new_item(n) for n in range(30)])
        assert ui.release([i.id for i in items]) == 30  # one transaction, one notice, per item
        time.sleep(0.1)
        assert worker.wait_for_work(1) is True
        assert worker.wait_for_work(0.1) is False
