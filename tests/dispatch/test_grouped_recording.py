"""The dispatcher records several sends in one outbox transaction, without holding them back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import released

from mailbill import (
    Dispatcher,
    DispatchEvent,
    OutgoingMessage,
    SendReceipt,
    SQLiteOutbox,
    Status,
    TransientDeliveryError,
)
from mailbill.errors import OutboxError
from mailbill.testing import FakeClock, ScriptedTransport


class CountingOutbox(SQLiteOutbox):
    """A SQLite outbox that notes which transaction each recorded send ran in (0: none)."""

    def __init__(self, *args: object, fail_on: int | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.transactions = 0
        self._open = 0
        self.marks: list[int] = []
        self.groups: list[int] = []
        self.fail_on = fail_on

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.transactions += 1
        self._open = self.transactions
        try:
            with super().transaction():
                yield
        finally:
            self._open = 0

    def mark_sent(self, item_id: int, receipt: SendReceipt, /, **kwargs: object) -> object:  # type: ignore[override]
        if item_id == self.fail_on:
            raise OutboxError(f"disk full while recording item {item_id}")
        self.marks.append(self._open)
        return super().mark_sent(item_id, receipt, **kwargs)  # type: ignore[arg-type]

    def mark_sent_many(self, sends: object, /, **kwargs: object) -> object:  # type: ignore[override]
        pairs = list(sends)  # type: ignore[call-overload]
        if any(item_id == self.fail_on for item_id, _ in pairs):
            raise OutboxError(f"disk full while recording item {self.fail_on}")
        self.marks.extend(self._open for _ in pairs)
        self.groups.append(len(pairs))
        return super().mark_sent_many(pairs, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(tmp_path: Path, clock: FakeClock) -> CountingOutbox:
    return CountingOutbox(tmp_path / "outbox.sqlite3", clock=clock.now)


def dispatcher(outbox: SQLiteOutbox, transport: object, clock: FakeClock, **kw: object) -> Dispatcher:
    return Dispatcher(outbox, transport, clock=clock.now, monotonic=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_the_sends_of_a_chunk_are_recorded_in_one_transaction(tmp_path: Path, clock: FakeClock) -> None:
    """This test ensures that a chunk's sends are committed together, and every one is recorded."""
    outbox = make(tmp_path, clock)
    items = outbox.add_many([released(n) for n in range(5)])
    report = dispatcher(outbox, ScriptedTransport(name="default"), clock).run_once()
    assert report.sent == 5
    assert outbox.marks == [1] * 5  # all five in the first (and only) transaction
    assert outbox.groups == [5]  # with one call
    assert outbox.transactions == 1
    assert [outbox.get(i.id).status for i in items] == [Status.SENT] * 5
    outbox.close()


def test_an_error_result_is_recorded_after_the_sends_before_it(tmp_path: Path, clock: FakeClock) -> None:
    """This test ensures that sends before a failed one are committed first, then the failure is recorded."""
    outbox = make(tmp_path, clock)
    items = outbox.add_many([released(n) for n in range(4)])
    refusal = TransientDeliveryError("451 later", smtp_code=451)
    transport = ScriptedTransport([None, None, refusal], name="default")
    events: list[DispatchEvent] = []
    dispatcher(outbox, transport, clock, on_event=events.append).run_once()
    finals = [(e.item_id, e.new) for e in events if e.old is Status.SENDING]
    assert finals == [
        (items[0].id, Status.SENT), (items[1].id, Status.SENT),
        (items[2].id, Status.DEFERRED), (items[3].id, Status.SENT),
    ]  # fmt: skip
    assert outbox.marks == [1, 1, 2]
    outbox.close()


def test_slow_sends_are_recorded_while_the_chunk_goes_on(tmp_path: Path, clock: FakeClock) -> None:
    """This test ensures that a send waits a fraction of a second to be recorded, not the whole chunk."""
    outbox = make(tmp_path, clock)
    outbox.add_many([released(n) for n in range(6)])
    recorded_before: list[int] = []
    events: list[DispatchEvent] = []

    def slow(message: OutgoingMessage) -> SendReceipt:
        recorded_before.append(sum(e.new is Status.SENT for e in events))
        clock.advance(0.3)  # a slow server: each send takes 0.3 s
        return SendReceipt(message.message_id, "default", message.recipients, reply_code=250)

    transport = ScriptedTransport([slow] * 6, name="default")
    dispatcher(outbox, transport, clock, on_event=events.append).run_once()
    # each send is recorded once the next one is back (0.3 s later), long before the chunk ends
    assert recorded_before == [0, 0, 2, 2, 4, 4]
    assert sum(e.new is Status.SENT for e in events) == 6
    outbox.close()


def test_a_send_is_recorded_before_the_dispatcher_waits_for_the_rate_limit(
    tmp_path: Path, clock: FakeClock
) -> None:
    """This test ensures that nothing sent waits unrecorded while the dispatcher sleeps for a rate limit."""
    outbox = make(tmp_path, clock)
    outbox.add_many([released(n) for n in range(3)])
    sent_at: dict[int, float] = {}
    events: list[tuple[float, DispatchEvent]] = []
    transport = ScriptedTransport(name="default")
    dispatcher(
        outbox, transport, clock, rates=["1 per 20 s"], on_event=lambda e: events.append((clock(), e))
    ).run_once()
    for at, event in events:
        if event.new is Status.SENDING:
            sent_at[event.item_id] = at
    recorded = {e.item_id: at for at, e in events if e.new is Status.SENT}
    assert sorted(recorded.values()) == [0.0, 20.0, 40.0]
    assert all(recorded[i] == sent_at[i] for i in recorded)  # recorded before the 20 s wait
    outbox.close()


def test_a_failing_record_keeps_the_ones_before_it_and_stops_the_run(
    tmp_path: Path, clock: FakeClock
) -> None:
    """This test ensures that when recording a send fails, the earlier ones stay and the error is raised."""
    outbox = make(tmp_path, clock)
    items = outbox.add_many([released(n) for n in range(4)])
    outbox.fail_on = items[2].id
    with pytest.raises(OutboxError, match="disk full"):
        dispatcher(outbox, ScriptedTransport(name="default"), clock).run_once()
    statuses = [outbox.get(i.id).status for i in items]
    assert statuses[:2] == [Status.SENT, Status.SENT]
    # sent but not recorded: recovery makes them uncertain
    assert statuses[2:] == [Status.SENDING, Status.SENDING]
    outbox.close()
