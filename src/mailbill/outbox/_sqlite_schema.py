"""The SQLite outbox's schema and its migrations, versioned with ``PRAGMA user_version``.

Times are stored as integer microseconds since the Unix epoch (UTC), so they
compare in SQL and round-trip exactly. Add a migration by appending a list of
statements to :data:`MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

from mailbill.errors import OutboxError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            message BLOB NOT NULL,
            mail_from TEXT NOT NULL,
            recipients TEXT NOT NULL,
            message_id TEXT NOT NULL,
            transport TEXT NOT NULL,
            smtputf8 INTEGER NOT NULL,
            batch TEXT,
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL,
            next_attempt_at INTEGER,
            lease_until INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            sent_at INTEGER,
            UNIQUE (key, version)
        )""",
        "CREATE INDEX items_due ON items (status, next_attempt_at, created_at)",
        "CREATE INDEX items_batch ON items (batch, status)",
        "CREATE INDEX items_reference ON items (reference)",
        """CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
            at INTEGER NOT NULL,
            transport TEXT NOT NULL,
            outcome TEXT NOT NULL,
            smtp_code INTEGER,
            enhanced_status TEXT,
            server_text TEXT,
            error_class TEXT,
            error_message TEXT,
            refused TEXT NOT NULL
        )""",
        "CREATE INDEX attempts_item ON attempts (item_id, id)",
        """CREATE TABLE archive (
            item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
            message_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            data BLOB NOT NULL,
            reply TEXT NOT NULL,
            archived_at INTEGER NOT NULL
        )""",
        """CREATE TABLE suppression (
            address TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            note TEXT NOT NULL,
            added_at INTEGER NOT NULL
        )""",
    ),
    # The message bytes move to a table of their own. SQLite rewrites a whole row
    # when an update changes its size, so with the bytes in ``items`` every claim
    # and every status change copied the ~50 KB message again (and flushed it).
    # ``items.message`` stays, always empty, because SQLite cannot drop a NOT NULL
    # column without rebuilding the table.
    (
        """CREATE TABLE bodies (
            item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
            message BLOB NOT NULL
        )""",
        "INSERT INTO bodies (item_id, message) SELECT id, message FROM items",
        "UPDATE items SET message = x''",
    ),
    # The display headers (From, To, Cc, Reply-To, Subject) as JSON, so the
    # dispatcher does not parse them out of every message; '' for older rows,
    # which are parsed as before.
    ("ALTER TABLE items ADD COLUMN headers TEXT NOT NULL DEFAULT ''",),
)

#: The schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database up to :data:`SCHEMA_VERSION`, in one write transaction.

    Raises:
        OutboxError: the file was written by a newer mailbill.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > SCHEMA_VERSION:
            raise OutboxError(
                f"outbox {path} has schema version {current}; this mailbill knows up to "
                f"{SCHEMA_VERSION}: upgrade mailbill"
            )
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        if current != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
