"""outbox_from_url: memory, SQLite paths and PostgreSQL DSNs by URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbill import ConfigurationError, MemoryOutbox, PostgresOutbox, SQLiteOutbox, outbox_from_url


def test_memory_and_sqlite_urls(tmp_path: Path) -> None:
    """This test ensures that memory: and sqlite: URLs (and plain paths) open the right outbox."""
    assert isinstance(outbox_from_url("memory:?archive=true"), MemoryOutbox)
    assert outbox_from_url("memory:?archive=true").archive is True
    absolute = tmp_path / "a.sqlite3"
    with outbox_from_url(f"sqlite:///{absolute}?durable=false&timeout=5") as outbox:
        assert isinstance(outbox, SQLiteOutbox)
        assert outbox.path == absolute
    with outbox_from_url(str(tmp_path / "b.sqlite3")) as outbox:
        assert isinstance(outbox, SQLiteOutbox)
        assert outbox.path == tmp_path / "b.sqlite3"
    assert absolute.exists()


def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test ensures that sqlite:///NAME is relative to the working directory, as in SQLAlchemy."""
    monkeypatch.chdir(tmp_path)
    with outbox_from_url("sqlite:///rel.sqlite3") as outbox:
        assert isinstance(outbox, SQLiteOutbox)
        assert outbox.path == Path("rel.sqlite3")
    assert (tmp_path / "rel.sqlite3").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost", "unknown scheme"),
        ("memory:?colour=red", "unknown option"),
        ("sqlite:///x.db?durable=maybe", "true or false"),
        ("sqlite:///", "names no file"),
        ("", "empty"),
        ("postgresql://u:hunter2@db/x?schema=Bad-Name", "schema name"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    """This test ensures that a bad outbox URL raises ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError, match=message) as info:
        outbox_from_url(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.postgres
def test_postgresql_url_with_schema(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that a postgresql:// URL opens a PostgresOutbox in the schema it names."""
    with outbox_from_url(f"{pg_dsn}?schema={pg_schema}&connect_timeout=5") as outbox:
        assert isinstance(outbox, PostgresOutbox)
        assert outbox.schema == pg_schema
        assert sum(outbox.counts().values()) == 0
