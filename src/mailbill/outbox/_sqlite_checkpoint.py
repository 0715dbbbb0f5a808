"""Copying the SQLite outbox's write-ahead log into its database file, in a thread of its own.

In WAL mode every page is written twice: into the log at commit, and later
into the database file by a checkpoint. SQLite runs that checkpoint in the
thread whose commit made the log pass 1,000 pages, so a host adding invoices
paid for copying ~64 KB a message on its own time (about a sixth of adding
and composing them, measured in ``benchmarks/bench_pipeline.py``).

:class:`Checkpointer` runs a passive checkpoint in a background thread instead,
once a few megabytes of messages were added, while the host goes on. Small
commits (status changes) do not wake it: a checkpoint flushes the files, which
would cost more than copying their few pages. SQLite's own checkpoint stays on as
the bound on the log's size: it runs when the background one falls behind.
Nothing about durability changes: a checkpoint only moves committed pages, and
it flushes them as the outbox's ``synchronous`` setting says.

The thread starts when first needed, ends after a few seconds without work
(or at :meth:`Checkpointer.close`), and has its own connection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["Checkpointer"]

logger = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoints one database file in a background thread, when enough was written.

    Args:
        path: The database file.
        synchronous: The ``PRAGMA synchronous`` value the checkpoint flushes by.
        every: Bytes of messages committed that wake the thread.
        idle: Seconds without work after which the thread ends (more work
            starts a new one).
    """

    def __init__(self, path: Path, synchronous: str, *, every: int = 4 << 20, idle: float = 5.0) -> None:
        self._path = path
        self._synchronous = synchronous
        self._every = every
        self._idle = idle
        self._written = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.runs = 0  # checkpoints done, for tests

    def wrote(self, size: int) -> None:
        """Note ``size`` bytes of messages committed; past ``every``, wake (or start) the thread."""
        with self._lock:
            self._written += size
            if self._written < self._every:
                return
            self._written = 0
            self._wake.set()
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name=f"mailbill-checkpoint {self._path.name}", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop the thread, if running, and wait for it."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:  # the committing threads' own checkpoints still run
            logger.debug("no background checkpoint for %s: %s", self._path, exc)
            with self._lock:
                self._thread = None
            return
        try:
            while True:
                self._wake.wait(self._idle)
                with self._lock:
                    # decided under the lock, so a commit noted now finds no thread and starts one
                    if self._closed or not self._wake.is_set():
                        self._thread = None
                        return
                    self._wake.clear()
                try:
                    conn.execute(f"PRAGMA synchronous={self._synchronous}")  # how it flushes
                    # PASSIVE: copies what no reader still needs, never waits for a lock
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error as exc:
                    logger.debug("background checkpoint of %s failed: %s", self._path, exc)
        finally:
            conn.close()
