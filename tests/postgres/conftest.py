"""Fixtures for the PostgreSQL tests: the server from ``MAILBILL_TEST_POSTGRES``, a fresh schema per test.

Without ``MAILBILL_TEST_POSTGRES`` (a DSN such as
``postgresql://postgres@127.0.0.1:5432/test``) these tests are skipped, with a
reason saying so. With ``MAILBILL_REQUIRE_POSTGRES=1`` (CI sets it) an unset
variable or an unreachable server fails them instead: CI must not pass by skipping.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# the shared conformance suite and dispatcher helpers live next door
sys.path[:0] = [str(Path(__file__).parent.parent / "outbox"), str(Path(__file__).parent.parent / "dispatch")]

ENV_DSN = "MAILBILL_TEST_POSTGRES"
ENV_REQUIRE = "MAILBILL_REQUIRE_POSTGRES"
HOW = f"set {ENV_DSN} to a DSN, e.g. {ENV_DSN}=postgresql://postgres@127.0.0.1:5432/test"


def _unavailable(reason: str) -> None:
    if os.environ.get(ENV_REQUIRE) == "1":
        pytest.fail(f"PostgreSQL required ({ENV_REQUIRE}=1) but {reason}", pytrace=False)
    pytest.skip(f"needs PostgreSQL: {reason}; {HOW}")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The test server's DSN, checked to be reachable (skip or fail as the module docstring says)."""
    dsn = os.environ.get(ENV_DSN, "")
    if not dsn:
        _unavailable(f"{ENV_DSN} is not set")
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the dev environment has it
        _unavailable('psycopg is not installed (pip install "mailbill[postgres]")')
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {ENV_DSN}: {exc}")
    return dsn


def _drop(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def new_schema(pg_dsn: str) -> Iterator[Callable[[], str]]:
    """Makes schema names unique to this test run (other runs may share the database); drops them after."""
    made: list[str] = []

    def make() -> str:
        name = f"mbt_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        made.append(name)
        return name

    yield make
    for name in made:
        _drop(pg_dsn, name)


@pytest.fixture
def pg_schema(new_schema: Callable[[], str]) -> str:
    """One fresh schema name for this test."""
    return new_schema()
