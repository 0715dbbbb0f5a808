"""What only the SQLite outbox promises: durability settings, schema versions, reopening."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
from conformance import new_item, receipt

from mailbill.errors import ItemNotFoundError, OutboxError
from mailbill.outbox import SQLiteOutbox, Status
from mailbill.outbox._sqlite_schema import SCHEMA_VERSION


def test_file_uses_wal_full_sync_and_a_schema_version(tmp_path: Path) -> None:
    """This test ensures that the database is in WAL mode, fsyncs every commit and records its schema."""
    with SQLiteOutbox(tmp_path / "o.db") as outbox:
        conn = outbox._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1


def test_a_new_file_has_16_kib_pages_and_an_old_file_keeps_its_own(tmp_path: Path) -> None:
    """This test ensures that new outboxes get pages that suit ~64 KB messages, and old files still open."""
    with SQLiteOutbox(tmp_path / "new.db") as outbox:
        assert outbox._conn().execute("PRAGMA page_size").fetchone()[0] == 16384
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("PRAGMA journal_mode = WAL")
    old.close()
    with SQLiteOutbox(tmp_path / "old.db") as outbox:
        assert outbox._conn().execute("PRAGMA page_size").fetchone()[0] == 4096
        (stored,) = outbox.add_many([new_item(1)])
        assert outbox.get(stored.id).message == stored.message


def _hold_a_write_lock(path: Path) -> sqlite3.Connection:
    """A connection holding a write lock on a new, not yet WAL, database file."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_opening_waits_for_another_connection_switching_the_journal(tmp_path: Path) -> None:
    """This test ensures that opening a new outbox waits for a lock held elsewhere.

    SQLite answers a journal-mode change at once with "database is locked" while
    another connection holds a write lock, without waiting in its busy handler.
    """
    holder = _hold_a_write_lock(tmp_path / "o.db")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    with SQLiteOutbox(tmp_path / "o.db", timeout=10) as outbox:
        assert outbox._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    holder.close()


def test_opening_gives_up_after_the_timeout_with_the_path(tmp_path: Path) -> None:
    """This test ensures that a lock held past the timeout is an OutboxError naming the file."""
    holder = _hold_a_write_lock(tmp_path / "o.db")
    with pytest.raises(OutboxError, match=r"o\.db.*WAL.*0\.2 s") as raised:
        SQLiteOutbox(tmp_path / "o.db", timeout=0.2)
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    holder.close()


def _open_and_close(path: str) -> str:
    try:
        SQLiteOutbox(path).close()
    except Exception as exc:  # reported to the test, which names it
        return repr(exc)
    return ""


def test_processes_opening_a_new_outbox_together_all_succeed(tmp_path: Path) -> None:
    """This test ensures that a host and its dispatcher can create the same outbox at the same time."""
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        for attempt in range(5):
            path = str(tmp_path / f"o{attempt}.db")
            assert pool.map(_open_and_close, [path] * 4) == [""] * 4


def test_data_survives_reopening(tmp_path: Path) -> None:
    """This test ensures that items, attempts and suppressions are still there after reopening the file."""
    with SQLiteOutbox(tmp_path / "o.db") as outbox:
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_failed(item.id, "550 no such user")
        outbox.suppress("x@example.org", "hard_bounce", "550")
    with SQLiteOutbox(tmp_path / "o.db") as again:
        stored = again.get(item.id)
        assert stored.status is Status.FAILED
        assert stored.attempts[0].error_message == "550 no such user"
        assert stored.message == new_item(1).message
        assert again.is_suppressed("X@example.org") is not None


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """This test ensures that a file written by a newer mailbill is not touched."""
    path = tmp_path / "o.db"
    SQLiteOutbox(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(OutboxError, match="upgrade mailbill"):
        SQLiteOutbox(path)


def test_threads_share_one_outbox_object(tmp_path: Path) -> None:
    """This test ensures that one SQLiteOutbox can be used from several threads (dispatcher and UI)."""
    with SQLiteOutbox(tmp_path / "o.db") as outbox:
        errors: list[BaseException] = []

        def add(start: int) -> None:
            try:
                outbox.add_many([new_item(n) for n in range(start, start + 20)])
                outbox.counts()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(n * 20,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert outbox.counts()[Status.DRAFT] == 80


def test_durable_false_trades_power_loss_safety_for_speed(tmp_path: Path) -> None:
    """This test ensures that durable=False selects synchronous=NORMAL (still WAL)."""
    with SQLiteOutbox(tmp_path / "o.db", durable=False) as outbox:
        conn = outbox._conn()
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_releasing_a_batch_is_one_transaction(tmp_path: Path) -> None:
    """This test ensures that release of a big batch commits once and a failure in it rolls back all."""
    with SQLiteOutbox(tmp_path / "o.db") as outbox:
        outbox.add_many([new_item(n) for n in range(300)])
        conn = outbox._conn()
        before = conn.total_changes
        assert outbox.release(batch="b1") == 300
        assert outbox.counts()[Status.RELEASED] == 300
        assert conn.total_changes - before >= 600  # 300 updates and 300 history rows
        assert not conn.in_transaction
        ids = [i.id for i in outbox.find(limit=5)]
        with pytest.raises(ItemNotFoundError):
            outbox.cancel([*ids, 999_999])
        assert outbox.counts()[Status.RELEASED] == 300  # the cancels before the error were rolled back


def test_last_sent_answers_for_many_keys(tmp_path: Path) -> None:
    """This test ensures that last_sent works for more keys than one query takes."""
    with SQLiteOutbox(tmp_path / "o.db") as outbox:
        outbox.add_many([new_item(n, status=Status.RELEASED) for n in range(0, 1200, 2)])
        for item in outbox.claim(1000, lease_seconds=60):
            outbox.mark_sent(item.id, receipt(item.message_id))
        last = outbox.last_sent(f"invoice/{n}" for n in range(1200))
        assert len(last) == 600
        assert "invoice/2" in last
        assert "invoice/1" not in last


def test_a_version_1_file_is_migrated_with_its_bytes(tmp_path: Path) -> None:
    """This test ensures that a file from before the bytes moved to their own table keeps every message."""
    from mailbill.outbox._sqlite_schema import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    old = new_item(1, status=Status.RELEASED)
    conn.execute(
        "INSERT INTO items (key, version, status, message, mail_from, recipients, message_id, transport, "
        "smtputf8, batch, kind, reference, decision, reason, next_attempt_at, created_at, updated_at) "
        "VALUES (?, 1, 'released', ?, ?, '[\"c1@example.org\"]', ?, 'smtp', 0, 'b1', 'invoice', "
        "'', '{}', '', 0, 0, 0)",
        (old.key, old.message, old.mail_from, old.message_id),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SQLiteOutbox(path) as outbox:
        assert outbox.get_by_key(old.key).message == old.message
        (claimed,) = outbox.claim(1, lease_seconds=60)
        assert claimed.message == old.message
        outbox.mark_sent(claimed.id, receipt(old.message_id))
        assert outbox.get(claimed.id).message == old.message
        raw = outbox._conn()
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert raw.execute("SELECT length(message) FROM items").fetchall() == [(0,)]


def test_status_changes_do_not_write_the_message_again(tmp_path: Path) -> None:
    """This test ensures that claiming and marking a 1 MB message writes far less than its size.

    What the two commits do write is a few pages of rows and indexes (16 KiB each).
    """
    big = new_item(1, status=Status.RELEASED)
    big = type(big)(**{**{f: getattr(big, f) for f in big.__dataclass_fields__}, "message": b"x" * 1_000_000})
    with SQLiteOutbox(tmp_path / "o.db", durable=False) as outbox:
        stored = outbox.add(big)
        wal = tmp_path / "o.db-wal"
        before = wal.stat().st_size
        outbox.claim(1, lease_seconds=60)
        sent = outbox.mark_sent(stored.id, receipt(big.message_id))
        assert sent.status is Status.SENT
        assert outbox.get(stored.id).message == big.message
        assert wal.stat().st_size - before < 250_000


def test_purging_an_item_deletes_its_bytes(tmp_path: Path) -> None:
    """This test ensures that purged items leave no message bytes behind."""
    from datetime import UTC, datetime, timedelta

    with SQLiteOutbox(tmp_path / "o.db") as outbox:
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_sent(item.id, receipt(item.message_id))
        assert outbox.purge(datetime.now(UTC) + timedelta(days=1)) == 1
        assert outbox._conn().execute("SELECT count(*) FROM bodies").fetchone() == (0,)
