"""The outbox conformance suite on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conformance import MakeOutbox, OutboxConformance, OutboxStateMachineConformance

from mailbill.outbox import Outbox, PostgresOutbox

pytestmark = pytest.mark.postgres


class TestPostgresOutbox(OutboxConformance, OutboxStateMachineConformance):
    """The PostgreSQL outbox passes the conformance suite."""

    @pytest.fixture
    def make_outbox(self, pg_dsn: str, pg_schema: str) -> Iterator[MakeOutbox]:
        made: list[Outbox] = []

        def make(*, clock: Callable[..., object], archive: bool = False) -> Outbox:
            outbox = PostgresOutbox(pg_dsn, schema=pg_schema, clock=clock, archive=archive)  # type: ignore[arg-type]
            made.append(outbox)
            return outbox

        yield make
        for outbox in made:
            outbox.close()
