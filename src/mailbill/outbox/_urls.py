"""Outboxes by URL, so a command line or a settings file can name one in a string.

::

    memory:                                         MemoryOutbox (lost at exit; for trials)
    sqlite:///outbox.sqlite3                        SQLiteOutbox at a path relative to the
                                                    working directory (as in SQLAlchemy)
    sqlite:////var/lib/billing/outbox.sqlite3       SQLiteOutbox at an absolute path
    outbox.sqlite3                                  the same: a plain path is a SQLite file
    postgresql://mailbill@db.internal/erp?schema=mailbill   PostgresOutbox (also postgres://)

Query options: ``archive=true`` (every kind); ``durable``, ``timeout`` (SQLite);
``schema`` (PostgreSQL; every other query parameter goes to libpq, e.g.
``sslmode=verify-full``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mailbill.errors import ConfigurationError
from mailbill.outbox.base import Clock, Outbox, utc_now
from mailbill.outbox.memory import MemoryOutbox
from mailbill.outbox.postgres import PostgresOutbox
from mailbill.outbox.sqlite import SQLiteOutbox
from mailbill.transports._registry import mask_url

__all__ = ["outbox_from_url"]

_SCHEME = re.compile(r"^([a-zA-Z][\w+.-]+):")  # two letters at least: "C:\..." is a path


def _bool(url: str, key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"outbox URL {mask_url(url)}: {key} must be true or false, not {value!r}")


def outbox_from_url(url: str, /, *, clock: Clock = utc_now) -> Outbox:
    """Open the outbox a URL names (see the module docstring for the forms).

    Example:
        >>> type(outbox_from_url("memory:")).__name__
        'MemoryOutbox'

    Args:
        url: ``memory:``, ``sqlite:///PATH``, a plain file path, or a
            ``postgresql://`` DSN.
        clock: The outbox's clock.

    Raises:
        ConfigurationError: an unknown scheme or option, or a bad value (the
            message shows the URL with its password masked).
        MissingDependencyError: a ``postgresql://`` URL without psycopg installed.
    """
    match = _SCHEME.match(url)
    if match is None:
        if not url.strip():
            raise ConfigurationError("an outbox URL is empty; give e.g. sqlite:///outbox.sqlite3")
        return SQLiteOutbox(url, clock=clock)
    scheme = match[1].lower()
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    archive = _bool(url, "archive", options.pop("archive", "false"))
    if scheme == "memory":
        _no_more(url, options)
        return MemoryOutbox(clock=clock, archive=archive)
    if scheme == "sqlite":
        kwargs: dict[str, Any] = {}
        if "durable" in options:
            kwargs["durable"] = _bool(url, "durable", options.pop("durable"))
        if "timeout" in options:
            try:
                kwargs["timeout"] = float(options.pop("timeout"))
            except ValueError:
                raise ConfigurationError(f"outbox URL {mask_url(url)}: timeout must be seconds") from None
        _no_more(url, options)
        # as SQLAlchemy: sqlite:///relative.db and sqlite:////absolute/path.db
        path = url.split("?", 1)[0][len("sqlite:") :].removeprefix("//").removeprefix("/")
        if not path:
            raise ConfigurationError(f"outbox URL {mask_url(url)} names no file; write sqlite:///outbox.db")
        return SQLiteOutbox(path, clock=clock, archive=archive, **kwargs)
    if scheme in ("postgresql", "postgres"):
        schema = options.pop("schema", "mailbill")
        dsn = urlunsplit(parts._replace(query=urlencode(options)))
        return PostgresOutbox(dsn, schema=schema, clock=clock, archive=archive)
    raise ConfigurationError(
        f"outbox URL {mask_url(url)}: unknown scheme {scheme!r}; use memory:, sqlite:///PATH or postgresql://..."
    )


def _no_more(url: str, options: dict[str, str]) -> None:
    if options:
        raise ConfigurationError(
            f"outbox URL {mask_url(url)}: unknown option(s) {', '.join(sorted(options))}"
        )
