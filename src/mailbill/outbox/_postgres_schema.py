"""The PostgreSQL outbox's schema and its migrations, versioned in a ``schema_version`` table.

Every table lives in one PostgreSQL schema (``mailbill`` by default), so a host
keeps the outbox next to its own tables without name clashes. Migrations run
in one transaction under a transaction-level advisory lock keyed on the schema
name: when N workers start at once, one migrates and the others wait, then see
the new version and do nothing. Add a migration by appending a tuple of
statements to :data:`MIGRATIONS`; never edit one that has shipped. ``{s}``
stands for the quoted schema name.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, LiteralString

from mailbill.errors import ConfigurationError, OutboxError

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "check_schema_name", "migrate", "notify_channel"]

MIGRATIONS: tuple[tuple[LiteralString, ...], ...] = (
    (
        """CREATE TABLE {s}.items (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('draft', 'released', 'sending', 'sent', 'handed_off',
                'deferred', 'failed', 'uncertain', 'paper', 'cancelled')),
            message BYTEA NOT NULL,
            mail_from TEXT NOT NULL,
            recipients TEXT[] NOT NULL,
            message_id TEXT NOT NULL,
            transport TEXT NOT NULL,
            smtputf8 BOOLEAN NOT NULL,
            batch TEXT,
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL,
            next_attempt_at TIMESTAMPTZ,
            lease_until TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            sent_at TIMESTAMPTZ,
            CONSTRAINT items_key_version UNIQUE (key, version)
        )""",
        # only due-able rows are indexed for claim: the table grows, this index does not
        """CREATE INDEX items_due ON {s}.items (next_attempt_at, created_at, id)
            WHERE status IN ('released', 'deferred')""",
        "CREATE INDEX items_sending ON {s}.items (lease_until) WHERE status = 'sending'",
        "CREATE INDEX items_batch ON {s}.items (batch, status)",
        "CREATE INDEX items_reference ON {s}.items (reference)",
        "CREATE INDEX items_created ON {s}.items (created_at, id)",
        """CREATE TABLE {s}.attempts (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            item_id BIGINT NOT NULL REFERENCES {s}.items (id) ON DELETE CASCADE,
            at TIMESTAMPTZ NOT NULL,
            transport TEXT NOT NULL,
            outcome TEXT NOT NULL,
            smtp_code INTEGER,
            enhanced_status TEXT,
            server_text TEXT,
            error_class TEXT,
            error_message TEXT,
            refused JSONB NOT NULL
        )""",
        "CREATE INDEX attempts_item ON {s}.attempts (item_id, id)",
        """CREATE TABLE {s}.archive (
            item_id BIGINT PRIMARY KEY REFERENCES {s}.items (id) ON DELETE CASCADE,
            message_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            data BYTEA NOT NULL,
            reply TEXT NOT NULL,
            archived_at TIMESTAMPTZ NOT NULL
        )""",
        """CREATE TABLE {s}.suppression (
            address TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            note TEXT NOT NULL,
            added_at TIMESTAMPTZ NOT NULL
        )""",
        # the shared rate limit: one row per account (locked while counting) and a
        # log of sends per account, in seconds since the epoch on the limiter's clock
        """CREATE TABLE {s}.rate_accounts (
            account TEXT PRIMARY KEY,
            paused_until DOUBLE PRECISION NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE {s}.rate_events (
            account TEXT NOT NULL REFERENCES {s}.rate_accounts (account) ON DELETE CASCADE,
            at DOUBLE PRECISION NOT NULL,
            recipients INTEGER NOT NULL
        )""",
        "CREATE INDEX rate_events_account_at ON {s}.rate_events (account, at)",
    ),
    # The display headers as JSON text (see mailbill._stored_headers); '' for older rows.
    ("ALTER TABLE {s}.items ADD COLUMN headers TEXT NOT NULL DEFAULT ''",),
)

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,50}")
# first key of the two-key advisory lock; the second is hashtext(schema name)
_LOCK_CLASS = 0x6D61696C  # "mail"


def check_schema_name(schema: str) -> str:
    """Return ``schema`` if it is a plain lower-case identifier, else raise ConfigurationError."""
    if not _NAME.fullmatch(schema):
        raise ConfigurationError(
            f"PostgreSQL schema name {schema!r} must be lower-case letters, digits and '_' "
            "(at most 51, not starting with a digit)"
        )
    return schema


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which an outbox announces released items."""
    return f"{schema}_work"


def migrate(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> None:
    """Create the schema or bring it up to :data:`SCHEMA_VERSION`, in one transaction.

    Safe to call from many processes at once: an advisory lock serialises them.

    Raises:
        OutboxError: the schema was written by a newer mailbill.
    """
    from psycopg import sql

    ident = sql.Identifier(schema)

    def q(template: LiteralString) -> sql.Composed:
        return sql.SQL(template).format(s=ident)

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, schema))
        conn.execute(q("CREATE SCHEMA IF NOT EXISTS {s}"))
        conn.execute(
            q(
                "CREATE TABLE IF NOT EXISTS {s}.schema_version ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        )
        row = conn.execute(q("SELECT coalesce(max(version), 0) FROM {s}.schema_version")).fetchone()
        current = int(row[0]) if row else 0  # type: ignore[call-overload]
        if current > SCHEMA_VERSION:
            raise OutboxError(
                f"PostgreSQL outbox schema {schema!r} has version {current}; this mailbill knows up to "
                f"{SCHEMA_VERSION}: upgrade mailbill"
            )
        for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in statements:
                conn.execute(q(statement))
            conn.execute(q("INSERT INTO {s}.schema_version (version) VALUES (%s)"), (number,))
