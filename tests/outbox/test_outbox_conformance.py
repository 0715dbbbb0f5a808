"""The conformance suite run against the memory and SQLite outboxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conformance import MakeOutbox, OutboxConformance, OutboxStateMachineConformance

from mailbill.outbox import MemoryOutbox, Outbox, SQLiteOutbox


class TestMemoryOutbox(OutboxConformance, OutboxStateMachineConformance):
    """The memory outbox passes the conformance suite."""

    transactional = False  # each change is kept as it is made

    @pytest.fixture
    def make_outbox(self) -> MakeOutbox:
        shared: list[MemoryOutbox] = []

        def make(*, clock: Callable[..., object], archive: bool = False) -> Outbox:
            # one store per test: later calls share the first outbox's data
            outbox = MemoryOutbox(clock=clock, archive=archive)  # type: ignore[arg-type]
            if shared:
                outbox._lock = shared[0]._lock
                outbox._items = shared[0]._items
                outbox._by_key = shared[0]._by_key
                outbox._archive = shared[0]._archive
                outbox._suppressed = shared[0]._suppressed
                outbox._ids = shared[0]._ids
            shared.append(outbox)
            return outbox

        return make


class TestSQLiteOutbox(OutboxConformance, OutboxStateMachineConformance):
    """The SQLite outbox passes the conformance suite (a real file in tmp_path)."""

    @pytest.fixture
    def make_outbox(self, tmp_path: Path) -> Iterator[MakeOutbox]:
        made: list[Outbox] = []

        def make(*, clock: Callable[..., object], archive: bool = False) -> Outbox:
            outbox = SQLiteOutbox(tmp_path / "outbox.sqlite3", clock=clock, archive=archive)  # type: ignore[arg-type]
            made.append(outbox)
            return outbox

        yield make
        for outbox in made:
            outbox.close()
