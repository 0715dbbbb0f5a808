"""The dispatcher against the memory outbox and scripted transports, on a fake clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from helpers import message, released

from mailbill import (
    AuthenticationError,
    ConfigurationError,
    Dispatcher,
    DispatchEvent,
    MemoryOutbox,
    NewItem,
    Outbox,
    OutgoingMessage,
    RateLimitedError,
    RecipientsRefusedError,
    RefusedRecipient,
    RetryPolicy,
    SendReceipt,
    SQLiteOutbox,
    Status,
    TransientDeliveryError,
)
from mailbill.testing import FakeClock, MemoryTransport, ScriptedTransport


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(clock: FakeClock) -> MemoryOutbox:
    return MemoryOutbox(clock=clock.now)


def dispatcher(
    outbox: MemoryOutbox | SQLiteOutbox, transports: object, clock: FakeClock, **kw: object
) -> Dispatcher:
    return Dispatcher(outbox, transports, clock=clock.now, monotonic=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_run_once_sends_every_released_item_byte_for_byte(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that run_once sends each due item once, exactly its stored bytes, and reports it."""
    items = outbox.add_many([released(n) for n in range(5)])
    outbox.add(NewItem.from_message(message(9)))  # a draft, not released
    transport = MemoryTransport(name="default")
    events: list[DispatchEvent] = []
    report = dispatcher(outbox, transport, clock, on_event=events.append).run_once()
    assert report.sent == 5
    assert report.counts[Status.SENDING] == 5
    assert report.failures == ()
    assert transport.sent_bytes == [outbox.get(i.id).message for i in items]
    assert all(outbox.get(i.id).status is Status.SENT for i in items)
    assert outbox.counts()[Status.DRAFT] == 1
    for item in items:  # sends are recorded together, so items interleave; each in its order
        assert [(e.old, e.new) for e in events if e.item_id == item.id] == [
            (Status.RELEASED, Status.SENDING),
            (Status.SENDING, Status.SENT),
        ]
    assert dispatcher(outbox, transport, clock).run_once().sent == 0


def test_rate_limit_spaces_messages_on_the_fake_clock(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that '1 per 20 s' is kept: sends happen 20 s apart and nothing really sleeps."""
    outbox.add_many([released(n) for n in range(4)])
    times: list[float] = []

    def record(msg: OutgoingMessage) -> SendReceipt:
        times.append(clock())
        return SendReceipt(msg.message_id, "default", msg.recipients, reply_code=250)

    transport = ScriptedTransport([record] * 4, name="default")
    dispatcher(outbox, transport, clock, rates=["1 per 20 s"]).run_once()
    assert times == [0.0, 20.0, 40.0, 60.0]


def test_transient_errors_defer_and_retry_with_the_same_message_id(
    outbox: MemoryOutbox, clock: FakeClock
) -> None:
    """This test ensures that a 451 defers the item, sent later with the same Message-ID and bytes."""
    item = outbox.add(released(1))
    transport = ScriptedTransport([TransientDeliveryError("451 try later", smtp_code=451)], name="default")
    d = dispatcher(outbox, transport, clock, retry=RetryPolicy(backoff_base=60, jitter=0))
    first = d.run_once()
    assert first.counts[Status.DEFERRED] == 1
    stored = outbox.get(item.id)
    assert stored.status is Status.DEFERRED
    assert stored.next_attempt_at == clock.now() + timedelta(seconds=60)
    assert d.run_once().sent == 0
    clock.advance(60)
    assert d.run_once().sent == 1
    assert transport.attempts[0].as_bytes() == transport.attempts[1].as_bytes() == stored.message
    assert outbox.get(item.id).attempt_count == 2


def test_an_authentication_failure_leaves_everything_released(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that an AccountError stops the account and never drains the queue into FAILED."""
    outbox.add_many([released(n) for n in range(10)])
    transport = ScriptedTransport([AuthenticationError("535 bad credentials", smtp_code=535)], name="default")
    report = dispatcher(outbox, transport, clock).run_once()
    assert "default" in report.stopped_accounts
    assert "535" in report.stopped_accounts["default"]
    assert outbox.counts()[Status.RELEASED] == 10
    assert outbox.counts()[Status.FAILED] == 0
    assert len(transport.attempts) == 1


def test_refused_recipients_become_paper_and_are_suppressed(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that a refused address makes the item PAPER, is suppressed, blocks the next."""
    first = outbox.add(released(1, to="gone@example.org"))
    refused = RecipientsRefusedError(
        "refused", refused=[RefusedRecipient("gone@example.org", 550, "no such user", "5.1.1")]
    )
    transport = ScriptedTransport([refused], name="default")
    policy = RetryPolicy(suppress_refused=True, refused_to_paper=True)
    report = dispatcher(outbox, transport, clock, retry=policy).run_once()
    assert [f.status for f in report.failures] == [Status.PAPER]
    assert outbox.get(first.id).reason == "550 5.1.1 no such user"
    assert outbox.suppression.is_blocked("gone@example.org") is not None
    second = outbox.add(released(2, to="gone@example.org"))
    dispatcher(outbox, transport, clock, retry=policy).run_once()
    assert outbox.get(second.id).status is Status.PAPER
    assert "blocked" in outbox.get(second.id).reason
    assert len(transport.attempts) == 1


def test_suppression_is_asked_once_a_chunk(clock: FakeClock) -> None:
    """This test ensures that the dispatcher asks the outbox about a chunk's recipients in one call."""

    class Counting(MemoryOutbox):
        def __init__(self) -> None:
            super().__init__(clock=clock.now)
            self.asked: list[list[str]] = []

        def suppressed_among(self, addresses):  # type: ignore[no-untyped-def]
            addresses = list(addresses)
            self.asked.append(addresses)
            return super().suppressed_among(addresses)

        def is_suppressed(self, address):  # type: ignore[no-untyped-def]
            raise AssertionError("asked one address at a time")

    outbox = Counting()
    outbox.suppress("blocked@example.org")
    outbox.add_many([released(n) for n in range(5)] + [released(5, to="Blocked@example.org")])
    report = dispatcher(outbox, MemoryTransport(name="default"), clock, batch_size=3).run_once()
    assert report.sent == 5
    assert [f.status for f in report.failures] == [Status.PAPER]
    assert [len(asked) for asked in outbox.asked] == [3, 3]
    assert "blocked address: Blocked@example.org" in outbox.get_by_key("invoice/5").reason


def test_an_outbox_with_only_is_suppressed_gets_the_default_lookup(clock: FakeClock) -> None:
    """This test ensures that Outbox.suppressed_among's default asks is_suppressed for each address."""

    class OneByOne(MemoryOutbox):
        suppressed_among = Outbox.suppressed_among  # what a third-party outbox inherits

    outbox = OneByOne(clock=clock.now)
    outbox.suppress("blocked@example.org", "complaint")
    found = outbox.suppressed_among(["a@example.org", "BLOCKED@example.org", "BLOCKED@example.org"])
    assert list(found) == ["BLOCKED@example.org"]
    assert found["BLOCKED@example.org"].reason.value == "complaint"
    outbox.add_many([released(1), released(2, to="blocked@example.org")])
    report = dispatcher(outbox, MemoryTransport(name="default"), clock).run_once()
    assert report.sent == 1
    assert outbox.get_by_key("invoice/2").status is Status.PAPER


def test_one_unbuildable_item_does_not_stop_the_run(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that an item whose message cannot be built is FAILED with a reason; others go."""
    bad = outbox.add(
        NewItem("bad/1", b"garbage", "not an address", ("x@example.org",), "<b@x>", status=Status.RELEASED)
    )
    good = outbox.add(released(1))
    transport = MemoryTransport(name="default")
    report = dispatcher(outbox, transport, clock).run_once()
    assert outbox.get(bad.id).status is Status.FAILED
    assert outbox.get(bad.id).reason
    assert outbox.get(good.id).status is Status.SENT
    assert report.failures[0].item_id == bad.id


def test_hand_offs_are_recorded_as_handed_off(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that a transport that only hands messages on yields HANDED_OFF, not SENT."""
    item = outbox.add(released(1))

    def hand_off(msg: OutgoingMessage) -> SendReceipt:
        return SendReceipt(
            msg.message_id, "default", msg.recipients, handed_off=True, location="/pickup/1.eml"
        )

    report = dispatcher(outbox, ScriptedTransport([hand_off], name="default"), clock).run_once()
    assert outbox.get(item.id).status is Status.HANDED_OFF
    assert report.counts[Status.HANDED_OFF] == 1


def test_configuration_errors_reach_the_host(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that a ConfigurationError is raised to the caller and the item stays released."""
    item = outbox.add(released(1))
    transport = ScriptedTransport([ConfigurationError("no such host setting")], name="default")
    with pytest.raises(ConfigurationError):
        dispatcher(outbox, transport, clock).run_once()
    assert outbox.get(item.id).status is Status.RELEASED


def test_throttling_pauses_the_account_without_failing(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that a RateLimitedError pauses the account for retry_after; the item goes later."""
    item = outbox.add(released(1))
    transport = ScriptedTransport([RateLimitedError("421 4.7.0 slow down", retry_after=300)], name="default")
    d = dispatcher(outbox, transport, clock)
    report = d.run_once()
    assert report.sent == 0
    assert report.failures == ()
    paused = outbox.get(item.id)
    assert paused.status is Status.RELEASED
    assert paused.next_attempt_at == clock.now() + timedelta(seconds=300)
    assert d.limiter("default").wait_time() == 300
    clock.advance(300)
    assert d.run_once().sent == 1
    assert outbox.get(item.id).attempt_count == 1


def test_accounts_are_served_separately(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that items go through their own account's transport and unknown accounts wait."""
    outbox.add_many([released(1, transport="a"), released(2, transport="b"), released(3, transport="zzz")])
    a, b = MemoryTransport(name="a"), MemoryTransport(name="b")
    dispatcher(outbox, {"a": a, "b": b}, clock).run_once()
    assert [m.subject for m in a.outbox] == ["Invoice 1"]
    assert [m.subject for m in b.outbox] == ["Invoice 2"]
    assert outbox.get_by_key("invoice/3").status is Status.RELEASED


def test_parallel_connections_share_one_limit(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that parallel workers of one account send each item once, within one shared rate."""
    outbox.add_many([released(n, transport="smtp") for n in range(30)])
    made: list[ScriptedTransport] = []
    times: list[float] = []
    lock = threading.Lock()

    def record(msg: OutgoingMessage) -> SendReceipt:
        with lock:
            times.append(clock())
        return SendReceipt(msg.message_id, "smtp", msg.recipients, reply_code=250)

    def factory() -> ScriptedTransport:
        with lock:
            made.append(ScriptedTransport([record] * 30, name="smtp"))
            return made[-1]

    dispatcher(outbox, {"smtp": factory}, clock, parallel=3, rates=["2 per 10 s"]).run_once()
    subjects = [m.subject for t in made for m in t.sent]
    assert 1 <= len(made) <= 3
    assert len(subjects) == 30
    assert len(set(subjects)) == 30
    # one shared limit: 30 messages at 2 per 10 s take at least 140 s (three limits would take ~40 s)
    assert max(times) >= 140


def test_expired_leases_are_recovered_at_the_start_of_a_run(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that items left SENDING by a dead worker become UNCERTAIN and are not resent."""
    item = outbox.add(released(1))
    outbox.claim(1, lease_seconds=60)
    clock.advance(61)
    transport = MemoryTransport(name="default")
    report = dispatcher(outbox, transport, clock).run_once()
    assert report.recovered == 1
    assert outbox.get(item.id).status is Status.UNCERTAIN
    assert transport.outbox == []


def test_run_forever_stops_on_the_event_and_hooks_cannot_break_it(
    outbox: MemoryOutbox, clock: FakeClock
) -> None:
    """This test ensures that run_forever stops cleanly when the event is set, even if the hook raises."""
    outbox.add_many([released(n) for n in range(3)])
    stop = threading.Event()
    seen: list[DispatchEvent] = []

    def hook(event: DispatchEvent) -> None:
        seen.append(event)
        if len([e for e in seen if e.new is Status.SENT]) == 3:
            stop.set()
        raise RuntimeError("a broken progress bar")

    d = dispatcher(outbox, MemoryTransport(name="default"), clock, on_event=hook)
    d.run_forever(poll_interval=0.01, stop=stop)
    assert outbox.counts()[Status.SENT] == 3
    assert stop.is_set()


def test_dispatcher_works_on_sqlite(tmp_path: object, clock: FakeClock) -> None:
    """This test ensures that the dispatcher sends from a SQLite outbox too."""
    with SQLiteOutbox(tmp_path / "o.db", clock=clock.now) as outbox:  # type: ignore[operator]
        outbox.add_many([released(n) for n in range(3)])
        assert dispatcher(outbox, MemoryTransport(name="default"), clock).run_once().sent == 3


class _FailingOpen(MemoryTransport):
    def __init__(self, error: Exception) -> None:
        super().__init__(name="default")
        self.error = error

    def open(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error", [AuthenticationError("535 no"), TransientDeliveryError("connection refused")]
)
def test_an_account_that_cannot_connect_keeps_its_items(
    outbox: MemoryOutbox, clock: FakeClock, error: Exception
) -> None:
    """This test ensures that a failed connect gives every claimed item back untried and stops the account."""
    items = outbox.add_many([released(n) for n in range(3)])
    report = dispatcher(outbox, _FailingOpen(error), clock).run_once()
    assert "default" in report.stopped_accounts
    assert [outbox.get(i.id).status for i in items] == [Status.RELEASED] * 3
    assert all(outbox.get(i.id).attempt_count == 0 for i in items)


def test_a_used_up_recipient_limit_does_not_hold_items_past_their_lease(
    outbox: MemoryOutbox, clock: FakeClock
) -> None:
    """This test ensures that an item waiting past its lease for a daily limit is given back, due later."""
    first = outbox.add(released(1, to="a@example.org, b@example.org"))
    second = outbox.add(released(2, to="c@example.org, d@example.org, e@example.org"))
    transport = MemoryTransport(name="default")
    d = dispatcher(outbox, transport, clock, rates=["4 recipients/day"], lease_seconds=600)
    d.run_once()
    assert outbox.get(first.id).status is Status.SENT
    held = outbox.get(second.id)
    assert held.status is Status.RELEASED
    assert held.next_attempt_at is not None
    assert held.next_attempt_at >= clock.now() + timedelta(hours=23)
    assert len(transport.outbox) == 1
    clock.advance(3600)
    assert d.run_once().sent == 0  # the day's recipients are used up: the run ends at once
    clock.advance(86400)
    assert d.run_once().sent == 1


def test_run_forever_stops_on_sigterm_when_asked(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that handle_signals installs a SIGTERM handler that stops cleanly and restores."""
    import signal

    outbox.add(released(1))
    before = signal.getsignal(signal.SIGTERM)

    def hook(event: DispatchEvent) -> None:
        if event.new is Status.SENT:
            signal.raise_signal(signal.SIGTERM)

    d = dispatcher(outbox, MemoryTransport(name="default"), clock, on_event=hook)
    d.run_forever(poll_interval=0.01, handle_signals=True)
    assert outbox.counts()[Status.SENT] == 1
    assert signal.getsignal(signal.SIGTERM) == before


def test_bad_settings_are_refused_at_construction(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that bad rates and rates for unknown accounts fail when the dispatcher is made."""
    with pytest.raises(ConfigurationError, match="not a rate"):
        dispatcher(outbox, MemoryTransport(), clock, rates=["fast"])
    with pytest.raises(ConfigurationError, match="bilingg"):
        dispatcher(outbox, {"billing": MemoryTransport()}, clock, rates={"bilingg": ["1/s"]})
    with pytest.raises(ConfigurationError):
        dispatcher(outbox, {}, clock)


def test_report_summary_reads_well(outbox: MemoryOutbox, clock: FakeClock) -> None:
    """This test ensures that the report's one-line summary names what happened."""
    outbox.add_many([released(1), released(2, to="gone@example.org")])
    refused = RecipientsRefusedError(
        "refused", refused=[RefusedRecipient("gone@example.org", 550, "unknown")]
    )
    report = dispatcher(outbox, ScriptedTransport([None, refused], name="default"), clock).run_once()
    assert report.summary() == "sent 1, failed 1"
