"""The SQLite outbox copies its write-ahead log into the database file in a thread of its own."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

from conformance import new_item, receipt

from mailbill.outbox import SQLiteOutbox, Status
from mailbill.outbox._sqlite_checkpoint import Checkpointer


def _wait_for(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def _database_with_unchecked_log(path: Path) -> sqlite3.Connection:
    """A WAL database whose 1 MB of new rows is in the log only (SQLite's own checkpoint is off)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (data BLOB)")
    conn.execute("INSERT INTO t VALUES (randomblob(1000000))")
    return conn


def test_enough_bytes_written_start_a_checkpoint_in_the_background(tmp_path: Path) -> None:
    """This test ensures that the log is copied into the database file by the checkpointer's thread."""
    conn = _database_with_unchecked_log(tmp_path / "d.db")
    size_before = (tmp_path / "d.db").stat().st_size
    checkpointer = Checkpointer(tmp_path / "d.db", "NORMAL", every=1000, idle=30)
    checkpointer.wrote(999)
    time.sleep(0.2)
    assert checkpointer.runs == 0  # under ``every``: nothing to do yet
    assert (tmp_path / "d.db").stat().st_size == size_before
    checkpointer.wrote(1)
    assert _wait_for(lambda: checkpointer.runs == 1)
    assert (tmp_path / "d.db").stat().st_size > size_before + 900_000  # the blob is in the file now
    names = [t.name for t in threading.enumerate()]
    assert "mailbill-checkpoint d.db" in names
    checkpointer.close()
    assert "mailbill-checkpoint d.db" not in [t.name for t in threading.enumerate()]
    conn.close()


def test_the_thread_ends_when_idle_and_comes_back_for_more_work(tmp_path: Path) -> None:
    """This test ensures that an idle checkpointer holds no thread, and starts one again when needed."""
    conn = _database_with_unchecked_log(tmp_path / "d.db")
    checkpointer = Checkpointer(tmp_path / "d.db", "NORMAL", every=1, idle=0.05)
    checkpointer.wrote(1)
    assert _wait_for(lambda: checkpointer.runs == 1)
    assert _wait_for(lambda: checkpointer._thread is None)
    conn.execute("INSERT INTO t VALUES (randomblob(1000))")
    checkpointer.wrote(1)
    assert _wait_for(lambda: checkpointer.runs == 2)
    checkpointer.close()
    checkpointer.wrote(1)  # closed: no new thread
    assert checkpointer._thread is None
    conn.close()


def test_adding_messages_wakes_the_outboxs_checkpointer_and_status_changes_do_not(tmp_path: Path) -> None:
    """This test ensures that the outbox counts the bytes it adds, and only they wake a checkpoint."""
    with SQLiteOutbox(tmp_path / "o.db", durable=False) as outbox:
        big = [
            replace(new_item(n, status=Status.RELEASED), message=bytes([65 + n % 26]) * 1_100_000)
            for n in range(3)
        ]
        outbox.add_many(big)
        assert outbox.add(new_item(9)).key == "invoice/9"
        time.sleep(0.2)
        assert outbox._checkpointer.runs == 0  # 3.3 MB: under 4 MB
        for item in outbox.claim(3, lease_seconds=60):
            outbox.mark_sent(item.id, receipt(item.message_id))
        time.sleep(0.2)
        assert outbox._checkpointer.runs == 0
        resent = outbox.resend("invoice/0", replace(big[0], message=b"Z" * 1_000_000))
        assert resent.version == 2
        assert _wait_for(lambda: outbox._checkpointer.runs == 1)
        assert outbox.get(resent.id).message == b"Z" * 1_000_000
    assert outbox._checkpointer._thread is None  # close() stopped it
