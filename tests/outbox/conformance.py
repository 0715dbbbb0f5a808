"""The conformance suite every outbox implementation must pass.

Use it by subclassing :class:`OutboxConformance` in a ``test_*.py`` module and
providing a ``make_outbox`` fixture that returns a factory::

    class TestMyOutbox(OutboxConformance):
        @pytest.fixture
        def make_outbox(self, tmp_path):
            def make(*, clock, archive=False):
                return MyOutbox(..., clock=clock, archive=archive)
            return make

The factory is called with keyword arguments ``clock`` (a callable returning an
aware UTC datetime) and ``archive``; each call within one test must return an
outbox on the *same* store (so two instances can race on ``claim``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

import pytest

from mailbill import Address, OutgoingMessage, SendReceipt
from mailbill.errors import (
    ConfigurationError,
    InvalidTransitionError,
    ItemNotFoundError,
    RecipientsRefusedError,
    RefusedRecipient,
    TransientDeliveryError,
)
from mailbill.outbox import (
    ArchiveEntry,
    NewItem,
    Outbox,
    RecoveryPolicy,
    Status,
    SuppressionReason,
)
from mailbill.testing import FakeClock

__all__ = ["MakeOutbox", "OutboxConformance", "new_item"]


class MakeOutbox(Protocol):
    """A factory of outboxes sharing one store."""

    def __call__(self, *, clock: Callable[..., object], archive: bool = False) -> Outbox: ...


def new_item(
    n: int, *, batch: str | None = "b1", transport: str = "smtp", status: Status = Status.DRAFT
) -> NewItem:
    """A small item whose bytes name its number."""
    msg_id = f"<m{n}@example.com>"
    data = (
        f"From: billing@example.com\r\nTo: c{n}@example.org\r\nMessage-ID: {msg_id}\r\n"
        f"Subject: Invoice {n}\r\n\r\nHello \xe9 {n}\r\n"
    ).encode()
    return NewItem(
        key=f"invoice/{n}",
        message=data,
        mail_from="billing@example.com",
        recipients=(f"c{n}@example.org",),
        message_id=msg_id,
        transport=transport,
        batch=batch,
        kind="invoice",
        reference=f"Invoice {n}",
        decision='{"why": "customer e-mail"}',
        status=status,
        headers=f'{{"v": 1, "subject": "Invoice {n} \u00e9"}}',
    )


def message_for_test() -> OutgoingMessage:
    """A composed message with a business key."""
    return OutgoingMessage(
        sender=Address.parse("billing@example.com"),
        to=Address.parse_list("c@example.org"),
        subject="Invoice",
        business_key="invoice/99",
    )


def receipt(item_msg_id: str, *, handed_off: bool = False) -> SendReceipt:
    """A receipt like a transport returns."""
    return SendReceipt(
        item_msg_id, "smtp", ("x@example.org",), reply_code=250, reply_text="2.0.0 OK", handed_off=handed_off
    )


class OutboxConformance:
    """Tests every outbox must pass; subclasses provide ``make_outbox``.

    ``transactional`` says whether :meth:`Outbox.transaction` is all or nothing.
    """

    transactional = True

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def outbox(self, make_outbox: MakeOutbox, clock: FakeClock) -> Outbox:
        return make_outbox(clock=clock.now)

    # -- add ---------------------------------------------------------------

    def test_add_stores_every_field_and_exact_bytes(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that add stores the item as given and get returns the exact bytes."""
        given = new_item(1)
        item = outbox.add(given)
        assert item.status is Status.DRAFT
        got = outbox.get(item.id)
        assert got.message == given.message
        assert (got.key, got.version, got.mail_from, got.recipients) == (
            "invoice/1",
            1,
            "billing@example.com",
            ("c1@example.org",),
        )
        assert (got.message_id, got.transport, got.batch, got.kind, got.reference) == (
            "<m1@example.com>",
            "smtp",
            "b1",
            "invoice",
            "Invoice 1",
        )
        assert got.decision == '{"why": "customer e-mail"}'
        assert got.headers == given.headers
        assert outbox.find(key="invoice/1")[0].headers == given.headers
        assert got.created_at == clock.now()
        assert got.updated_at == clock.now()
        assert got.attempts == ()
        assert got.smtputf8 is False
        assert outbox.get_by_key("invoice/1").id == item.id

    def test_add_is_idempotent_on_the_business_key(self, outbox: Outbox) -> None:
        """This test ensures that adding the same key twice stores nothing new and returns the first item."""
        first = outbox.add(new_item(1))
        other = NewItem(**{**_fields(new_item(2)), "key": "invoice/1"})
        second = outbox.add(other)
        again = outbox.add_many([new_item(1), new_item(3), new_item(3)])
        assert second.id == first.id
        assert outbox.get(first.id).message == new_item(1).message
        assert next(i.id for i in again) == first.id
        assert again[1].id == again[2].id
        assert sum(outbox.counts().values()) == 2

    def test_add_many_returns_each_item_exactly_as_stored(self, outbox: Outbox) -> None:
        """This test ensures that what add_many returns, new or already known, equals what get reads back."""
        known = outbox.add(new_item(1))
        utf8 = NewItem(
            **{**_fields(new_item(4, batch=None)), "smtputf8": True, "mail_from": "rä@example.com"}
        )
        given = [
            new_item(1),
            new_item(2, status=Status.RELEASED),
            new_item(3, transport="other"),
            utf8,
            NewItem.paper("invoice/5", "no e-mail address", reference="Invoice 5"),
            new_item(2),
        ]
        returned = outbox.add_many(given)
        assert returned[0] == known
        assert returned[1] == returned[5]
        for item in returned:
            assert item == outbox.get(item.id)
            assert item.message is not None
        assert returned[3].smtputf8 is True
        assert returned[3].batch is None
        assert returned[1].next_attempt_at == returned[1].created_at
        assert returned[4].status is Status.PAPER

    def test_every_status_change_returns_the_item_exactly_as_stored(
        self, make_outbox: MakeOutbox, clock: FakeClock
    ) -> None:
        """This test ensures that each mark_*, unclaim and release returns what get reads back afterwards."""
        outbox = make_outbox(clock=clock.now, archive=True)
        items = outbox.add_many([new_item(n, status=Status.RELEASED) for n in range(1, 5)])
        later = clock.now() + timedelta(minutes=5, microseconds=7)
        refused = RefusedRecipient("x@example.org", 550, "no such user", "5.1.1")
        sent_receipt = SendReceipt("<m1@example.com>", "smtp", ("c1@example.org",), (refused,), 250, "OK")
        changes = [
            lambda: outbox.mark_sent(items[0].id, sent_receipt),
            lambda: outbox.mark_deferred(items[1].id, "451 later", next_attempt_at=later, transport="smtp"),
            lambda: outbox.mark_failed(items[2].id, RecipientsRefusedError("refused", refused=[refused])),
            lambda: outbox.unclaim(items[3].id, error="421 busy", not_before=later),
        ]
        assert len(outbox.claim(10, lease_seconds=60)) == 4
        for change in changes:
            clock.advance(1.5)
            returned = change()
            stored = outbox.get(returned.id)
            assert stored.message is not None
            assert returned == replace(stored, message=None)
        paper = outbox.mark_paper(items[2].id, "no e-mail address")
        assert paper == replace(outbox.get(items[2].id), message=None)
        assert outbox.release([items[2].id]) == 0
        stored = outbox.get(items[0].id)
        assert (stored.status, stored.sent_at, stored.attempts[-1].refused) == (
            Status.SENT,
            stored.updated_at,
            (refused,),
        )

    def test_unknown_ids_and_keys_raise_item_not_found(self, outbox: Outbox) -> None:
        """This test ensures that unknown ids and keys raise ItemNotFoundError."""
        with pytest.raises(ItemNotFoundError):
            outbox.get(999)
        with pytest.raises(ItemNotFoundError):
            outbox.get_by_key("nope")
        with pytest.raises(ItemNotFoundError):
            outbox.mark_failed(999, "x")

    def test_items_may_start_released_or_on_paper(self, outbox: Outbox) -> None:
        """This test ensures that new items can start RELEASED (due now) or PAPER without bytes."""
        released = outbox.add(new_item(1, status=Status.RELEASED))
        paper = outbox.add(NewItem.paper("invoice/2", "no e-mail address", batch="b1", reference="Invoice 2"))
        assert released.status is Status.RELEASED
        assert released.next_attempt_at is not None
        stored = outbox.get(paper.id)
        assert stored.status is Status.PAPER
        assert stored.reason == "no e-mail address"
        assert stored.message == b""
        assert stored.reference == "Invoice 2"
        with pytest.raises(ConfigurationError):
            NewItem("invoice/3", b"", "", (), "", status=Status.RELEASED)  # only PAPER may lack bytes
        with pytest.raises(InvalidTransitionError):
            NewItem.from_message(message_for_test(), status=Status.SENT)

    # -- release, claim, mark ------------------------------------------------

    def test_release_batch_then_claim_hands_each_item_out_once(self, outbox: Outbox) -> None:
        """This test ensures that a released batch is claimed once, up to the limit, as SENDING."""
        outbox.add_many([new_item(n) for n in range(5)])
        outbox.add(new_item(9, batch="other"))
        assert outbox.release(batch="b1") == 5
        first = outbox.claim(3, lease_seconds=60)
        rest = outbox.claim(10, lease_seconds=60)
        assert len(first) == 3
        assert len(rest) == 2
        assert {i.id for i in first}.isdisjoint({i.id for i in rest})
        assert all(i.status is Status.SENDING and i.message for i in first + rest)
        assert outbox.claim(10, lease_seconds=60) == []
        assert outbox.counts()[Status.DRAFT] == 1

    def test_claim_filters_by_transport(self, outbox: Outbox) -> None:
        """This test ensures that claim only hands out items of the given transports."""
        outbox.add(new_item(1, transport="a", status=Status.RELEASED))
        outbox.add(new_item(2, transport="b", status=Status.RELEASED))
        assert [i.transport for i in outbox.claim(10, lease_seconds=60, transports=["b"])] == ["b"]

    def test_deferred_mail_waits_and_does_not_starve_new_mail(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that deferred items are due at their time and taken in turn with new ones."""
        old = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_deferred(
            old.id,
            TransientDeliveryError("451 later", smtp_code=451),
            next_attempt_at=clock.now() + timedelta(seconds=100),
        )
        clock.advance(50)
        new = outbox.add(new_item(2, status=Status.RELEASED))
        assert [i.id for i in outbox.claim(5, lease_seconds=10)] == [new.id]
        clock.advance(60)
        newer = outbox.add(new_item(3, status=Status.RELEASED))
        assert [i.id for i in outbox.claim(5, lease_seconds=10)] == [old.id, newer.id]
        item = outbox.get(old.id)
        assert item.attempt_count == 1
        assert item.attempts[0].smtp_code == 451

    def test_mark_sent_records_the_receipt(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that mark_sent makes the item SENT with the server's reply and a sent time."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        clock.advance(5)
        sent = outbox.mark_sent(item.id, receipt(item.message_id))
        assert sent.status is Status.SENT
        assert sent.sent_at is not None
        assert sent.lease_until is None
        assert sent.attempts[-1].smtp_code == 250
        assert sent.attempts[-1].outcome is Status.SENT
        assert outbox.get(item.id).status is Status.SENT
        assert outbox.last_sent(["invoice/1", "invoice/2"]) == {"invoice/1": sent.sent_at}
        # a status change returns the item without its bytes; get() still has them
        assert sent.message is None
        assert outbox.get(item.id).message == item.message

    def test_mark_sent_many_records_each_as_mark_sent_does(
        self, make_outbox: MakeOutbox, clock: FakeClock
    ) -> None:
        """This test ensures that mark_sent_many gives every item what mark_sent would, in the order given."""
        one = make_outbox(clock=clock.now)
        items = one.add_many([new_item(n, status=Status.RELEASED) for n in range(1, 7)])
        one.claim(6, lease_seconds=60)
        clock.advance(5)
        receipts = [receipt(i.message_id, handed_off=n == 4) for n, i in enumerate(items)]
        singly = [one.mark_sent(i.id, r) for i, r in zip(items[:3], receipts[:3], strict=True)]
        pairs = [(i.id, r) for i, r in zip(items[3:], receipts[3:], strict=True)]
        together = one.mark_sent_many(list(reversed(pairs)))
        assert [t.id for t in together] == [i.id for i in reversed(items[3:])]
        assert [t.status for t in together] == [Status.SENT, Status.HANDED_OFF, Status.SENT]
        for got in [*singly, *together]:
            stored = one.get(got.id)
            assert got == replace(stored, message=None)
            assert (got.sent_at, got.updated_at, got.lease_until, got.next_attempt_at) == (
                clock.now(), clock.now(), None, None,
            )  # fmt: skip
            assert got.attempts[-1].smtp_code == 250
        assert together[0].attempts == singly[0].attempts  # the same receipt, recorded alike
        assert together[0].reason == singly[0].reason == ""
        assert one.mark_sent_many([]) == []

    def test_mark_sent_many_refuses_unknown_ids_and_wrong_statuses(self, outbox: Outbox) -> None:
        """This test ensures that a bad pair raises; where the outbox has transactions, none is recorded."""
        first, second = outbox.add_many([new_item(n, status=Status.RELEASED) for n in (1, 2)])
        draft = outbox.add(new_item(3))
        outbox.claim(2, lease_seconds=60)
        for bad, error in ((draft, InvalidTransitionError), (None, ItemNotFoundError)):
            bad_pair = (999_999 if bad is None else bad.id, receipt("<b@x>"))
            with pytest.raises(error):
                outbox.mark_sent_many([bad_pair, (first.id, receipt("<a@x>"))])
            if self.transactional:  # all or none: the good pair before the bad one is not kept either
                with pytest.raises(error):
                    outbox.mark_sent_many([(first.id, receipt("<a@x>")), bad_pair])
            assert outbox.get(first.id).status is Status.SENDING
        assert outbox.get(draft.id).status is Status.DRAFT
        assert outbox.get(second.id).status is Status.SENDING

    def test_mark_sent_many_archives_and_takes_an_id_twice_as_two_calls(
        self, make_outbox: MakeOutbox, clock: FakeClock
    ) -> None:
        """This test ensures that a group is archived, and an id given twice is refused the second time."""
        outbox = make_outbox(clock=clock.now, archive=True)
        first, second = outbox.add_many([new_item(n, status=Status.RELEASED) for n in (1, 2)])
        outbox.claim(2, lease_seconds=60)
        outbox.mark_sent_many(
            [(first.id, receipt(first.message_id)), (second.id, receipt(second.message_id))]
        )
        entry = outbox.archived(second.id)
        assert entry is not None
        assert (entry.data, entry.reply) == (new_item(2).message, "250 2.0.0 OK")
        third = outbox.add(new_item(3, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        with pytest.raises(InvalidTransitionError):  # SENT cannot become SENT again
            outbox.mark_sent_many([(third.id, receipt("<c@x>")), (third.id, receipt("<c@x>"))])

    def test_transaction_keeps_its_changes_and_a_failing_call_changes_nothing(
        self, make_outbox: MakeOutbox, clock: FakeClock
    ) -> None:
        """This test ensures that a transaction keeps its changes; a caught failure undoes only itself."""
        outbox = make_outbox(clock=clock.now)
        first, second = outbox.add_many([new_item(n, status=Status.RELEASED) for n in (1, 2)])
        draft = outbox.add(new_item(3))
        outbox.claim(2, lease_seconds=60)
        with outbox.transaction():
            outbox.mark_sent(first.id, receipt(first.message_id))
            with pytest.raises(InvalidTransitionError):
                outbox.mark_sent(draft.id, receipt(draft.message_id))
            with pytest.raises(ItemNotFoundError):
                outbox.mark_sent(999_999, receipt("<none@example.com>"))
            outbox.mark_sent(second.id, receipt(second.message_id))
        other = make_outbox(clock=clock.now)  # what another connection sees after the commit
        assert [other.get(i.id).status for i in (first, second, draft)] == [
            Status.SENT, Status.SENT, Status.DRAFT,
        ]  # fmt: skip
        assert other.get(draft.id).attempts == ()
        assert [len(other.get(i.id).attempts) for i in (first, second)] == [1, 1]

    def test_a_transaction_that_raises_keeps_nothing_where_the_outbox_has_transactions(
        self, outbox: Outbox
    ) -> None:
        """This test ensures that an error leaving transaction() undoes its changes (where transactional)."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)

        def mark_then_fail() -> None:
            with outbox.transaction():
                outbox.mark_sent(item.id, receipt(item.message_id))
                raise RuntimeError("the host's own error")

        with pytest.raises(RuntimeError, match="host"):
            mark_then_fail()
        after = outbox.get(item.id)
        assert after.status is (Status.SENDING if self.transactional else Status.SENT)
        assert len(after.attempts) == (0 if self.transactional else 1)

    def test_a_hand_off_is_recorded_honestly(self, outbox: Outbox) -> None:
        """This test ensures that a handed-off receipt gives HANDED_OFF, not SENT."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        assert (
            outbox.mark_sent(item.id, receipt(item.message_id, handed_off=True)).status is Status.HANDED_OFF
        )

    def test_failures_keep_the_servers_reason(self, outbox: Outbox) -> None:
        """This test ensures that mark_failed records the refused recipients and the server's text."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        error = RecipientsRefusedError(
            "refused", refused=[RefusedRecipient("c1@example.org", 550, "no such user", "5.1.1")]
        )
        failed = outbox.mark_failed(item.id, error, transport="smtp")
        assert failed.status is Status.FAILED
        assert failed.reason == "550 5.1.1 no such user"
        assert failed.attempts[-1].refused[0].address == "c1@example.org"
        assert failed.attempts[-1].error_class == "RecipientsRefusedError"

    def test_invalid_transitions_raise_and_change_nothing(self, outbox: Outbox) -> None:
        """This test ensures that a disallowed change raises InvalidTransitionError and changes nothing."""
        item = outbox.add(new_item(1))
        with pytest.raises(InvalidTransitionError):
            outbox.mark_sent(item.id, receipt(item.message_id))
        with pytest.raises(InvalidTransitionError):
            outbox.mark_deferred(item.id, "x", next_attempt_at=item.created_at)
        with pytest.raises(InvalidTransitionError):
            outbox.unclaim(item.id)
        assert outbox.get(item.id).status is Status.DRAFT
        assert outbox.get(item.id).attempts == ()
        outbox.mark_paper(item.id, "no address")
        assert outbox.release([item.id]) == 0
        assert outbox.cancel([item.id]) == 0
        assert outbox.get(item.id).status is Status.PAPER

    def test_cancel_and_release_select_items(self, outbox: Outbox) -> None:
        """This test ensures that release and cancel act on the selected ids only."""
        a, b, c = outbox.add_many([new_item(1), new_item(2), new_item(3)])
        assert outbox.release([a.id, b.id, b.id]) == 2
        assert outbox.cancel([b.id, c.id], reason="customer paid") == 2
        assert [outbox.get(i.id).status for i in (a, b, c)] == [
            Status.RELEASED,
            Status.CANCELLED,
            Status.CANCELLED,
        ]
        assert outbox.get(c.id).reason == "customer paid"

    def test_releasing_a_failed_item_again_gives_it_fresh_retries(self, outbox: Outbox) -> None:
        """This test ensures that a person's release of a FAILED item is recorded and resets its try count."""
        item = outbox.add(new_item(1))
        assert outbox.release([item.id]) == 1
        outbox.claim(1, lease_seconds=60)
        outbox.mark_failed(item.id, "451 too many tries")
        assert outbox.get(item.id).attempt_count == 1
        assert outbox.release([item.id]) == 1
        again = outbox.get(item.id)
        assert again.status is Status.RELEASED
        assert again.attempt_count == 0
        assert [a.outcome for a in again.attempts] == [Status.RELEASED, Status.FAILED, Status.RELEASED]
        assert again.retry_since == again.attempts[-1].at

    def test_unclaim_gives_the_item_back_with_fresh_retries(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that unclaim returns a claimed item to RELEASED, due later, count reset."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_deferred(item.id, "451", next_attempt_at=clock.now())
        outbox.claim(1, lease_seconds=60)
        back = outbox.unclaim(
            item.id, error="535 auth failed", not_before=clock.now() + timedelta(seconds=30)
        )
        assert back.status is Status.RELEASED
        assert back.attempt_count == 0
        assert back.reason
        assert outbox.claim(1, lease_seconds=60) == []
        clock.advance(30)
        assert [i.id for i in outbox.claim(1, lease_seconds=60)] == [item.id]

    # -- recovery --------------------------------------------------------------

    def test_recover_marks_expired_leases_uncertain(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that an expired lease becomes UNCERTAIN and an unexpired one stays SENDING."""
        a = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=10)
        clock.advance(5)
        b = outbox.add(new_item(2, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=10)
        clock.advance(6)
        recovered = outbox.recover()
        assert [i.id for i in recovered] == [a.id]
        assert outbox.get(a.id).status is Status.UNCERTAIN
        assert outbox.get(b.id).status is Status.SENDING
        assert outbox.get(a.id).attempts[-1].outcome is Status.UNCERTAIN
        assert [i.id for i in outbox.recover(include_unexpired=True)] == [b.id]
        assert a.id in {i.id for i in outbox.pending()}
        # a person confirms one went out and sends the other again
        assert outbox.mark_sent(a.id, receipt(a.message_id)).status is Status.SENT
        assert outbox.release([b.id]) == 1

    def test_recover_by_release_keeps_bytes_and_message_id(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that the RELEASE policy re-queues the same bytes and Message-ID."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=10)
        clock.advance(11)
        (back,) = outbox.recover(policy=RecoveryPolicy.RELEASE)
        assert back.status is Status.RELEASED
        (again,) = outbox.claim(1, lease_seconds=10)
        assert again.message == new_item(1).message
        assert again.message_id == item.message_id

    def test_claim_is_atomic_across_threads_and_instances(
        self, make_outbox: MakeOutbox, clock: FakeClock
    ) -> None:
        """This test ensures that concurrent claimers on one store never get the same item."""
        outboxes = [make_outbox(clock=clock.now) for _ in range(4)]
        outboxes[0].add_many([new_item(n, status=Status.RELEASED) for n in range(60)])
        got: list[int] = []
        lock = threading.Lock()

        def worker(ob: Outbox) -> None:
            while batch := ob.claim(3, lease_seconds=60):
                with lock:
                    got.extend(i.id for i in batch)

        threads = [threading.Thread(target=worker, args=(ob,)) for ob in outboxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 60
        assert len(set(got)) == 60
        for ob in outboxes:
            ob.close()

    # -- resend and history ---------------------------------------------------------

    def test_resend_adds_a_version_and_keeps_history(self, outbox: Outbox, clock: FakeClock) -> None:
        """This test ensures that resend makes version 2, keeps version 1, and last_sent follows it."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        with pytest.raises(InvalidTransitionError):
            outbox.resend("invoice/1")
        outbox.claim(1, lease_seconds=60)
        outbox.mark_sent(item.id, receipt(item.message_id))
        clock.advance(3600)
        second = outbox.resend("invoice/1")
        assert second.version == 2
        assert second.status is Status.RELEASED
        assert second.id != item.id
        assert outbox.get(second.id).message == new_item(1).message
        assert outbox.add(new_item(1)).id == second.id
        outbox.claim(1, lease_seconds=60)
        sent2 = outbox.mark_sent(second.id, receipt(item.message_id))
        assert [i.version for i in outbox.history("invoice/1")] == [1, 2]
        assert outbox.history("invoice/1")[0].attempts[0].outcome is Status.SENT
        assert outbox.last_sent(["invoice/1"]) == {"invoice/1": sent2.sent_at}
        assert outbox.get_by_key("invoice/1", version=1).id == item.id
        with pytest.raises(ItemNotFoundError):
            outbox.resend("invoice/404")

    # -- queries ---------------------------------------------------------------

    def test_queries_filter_and_count(self, outbox: Outbox) -> None:
        """This test ensures that find filters by each field, counts list every status, pending is right."""
        outbox.add_many([new_item(n) for n in range(4)])
        outbox.add(new_item(10, batch="b2", transport="other"))
        outbox.release(batch="b1")
        (claimed,) = outbox.claim(1, lease_seconds=60)
        outbox.mark_sent(claimed.id, receipt(claimed.message_id))
        counts = outbox.counts()
        assert set(counts) == set(Status)
        assert counts[Status.SENT] == 1
        assert counts[Status.RELEASED] == 3
        assert counts[Status.DRAFT] == 1
        assert outbox.counts(batch="b2")[Status.DRAFT] == 1
        assert sum(outbox.counts(batch="b2").values()) == 1
        assert len(outbox.find(batch="b1")) == 4
        assert [i.key for i in outbox.find(reference="Invoice 2")] == ["invoice/2"]
        assert [i.key for i in outbox.find(transport="other")] == ["invoice/10"]
        assert len(outbox.find(kind="invoice")) == 5
        assert len(outbox.find(status=[Status.SENT, Status.DRAFT])) == 2
        assert all(i.message is None for i in outbox.find())
        assert [i.key for i in outbox.find(limit=2, offset=1)] == ["invoice/1", "invoice/2"]
        assert len(outbox.pending(batch="b1")) == 3

    # -- suppression, archive, purge -----------------------------------------------------

    def test_suppression_list(self, outbox: Outbox) -> None:
        """This test ensures that suppressed addresses are found case-insensitively and can be removed."""
        entry = outbox.suppression.add("Anna@Example.SE", SuppressionReason.HARD_BOUNCE, "550 5.1.1")
        assert entry.reason is SuppressionReason.HARD_BOUNCE
        found = outbox.suppression.is_blocked("anna@example.se")
        assert found is not None
        assert found.note == "550 5.1.1"
        assert "ANNA@example.se" in outbox.suppression
        outbox.suppress("b@example.org", "complaint")
        assert [e.address for e in outbox.suppressions()] == ["anna@example.se", "b@example.org"]
        assert outbox.suppression.remove("anna@example.se") is True
        assert outbox.suppression.remove("anna@example.se") is False
        assert outbox.is_suppressed("anna@example.se") is None

    def test_suppressed_among_answers_for_many_addresses_at_once(self, outbox: Outbox) -> None:
        """This test ensures that suppressed_among returns the blocked ones of many addresses, as given."""
        outbox.suppress("Anna@Example.SE", "hard_bounce", "550 5.1.1")
        outbox.suppress("b@example.org", "complaint")
        given = ["anna@example.se", "ANNA@example.se", "c@example.org", "b@example.org", "not an address"]
        found = outbox.suppressed_among(given)
        assert set(found) == {"anna@example.se", "ANNA@example.se", "b@example.org"}
        assert found["ANNA@example.se"].reason is SuppressionReason.HARD_BOUNCE
        assert found["b@example.org"] == outbox.is_suppressed("b@example.org")
        as_objects = outbox.suppressed_among([Address("anna@example.se"), Address("c@example.org")])
        assert list(as_objects) == [Address("anna@example.se")]
        assert outbox.suppressed_among([]) == {}
        # more addresses than one SQL statement takes, only the last one blocked
        many = [f"person{n}@example.net" for n in range(1200)]
        outbox.suppress(many[-1])
        assert list(outbox.suppressed_among(many)) == [many[-1]]

    def test_archive_keeps_exact_bytes_when_on(self, make_outbox: MakeOutbox, clock: FakeClock) -> None:
        """This test ensures that with archive on, the bytes sent are kept with a SHA-256 and the reply."""
        outbox = make_outbox(clock=clock.now, archive=True)
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_sent(item.id, receipt(item.message_id))
        entry = outbox.archived(item.id)
        assert entry is not None
        assert entry.data == new_item(1).message
        assert entry.sha256 == ArchiveEntry.digest(entry.data)
        assert entry.reply == "250 2.0.0 OK"
        assert entry.message_id == item.message_id

    def test_archive_is_off_by_default(self, outbox: Outbox) -> None:
        """This test ensures that nothing is archived unless asked."""
        item = outbox.add(new_item(1, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_sent(item.id, receipt(item.message_id))
        assert outbox.archived(item.id) is None

    def test_purge_removes_old_final_items_only(self, make_outbox: MakeOutbox, clock: FakeClock) -> None:
        """This test ensures that purge deletes old finished items and archives but never pending ones."""
        outbox = make_outbox(clock=clock.now, archive=True)
        sent = outbox.add(new_item(1, status=Status.RELEASED))
        pending = outbox.add(new_item(2, status=Status.RELEASED))
        outbox.claim(1, lease_seconds=60)
        outbox.mark_sent(sent.id, receipt(sent.message_id))
        clock.advance(86400 * 40)
        assert outbox.purge(clock.now() - timedelta(days=30)) == 2
        with pytest.raises(ItemNotFoundError):
            outbox.get(sent.id)
        assert outbox.archived(sent.id) is None
        assert outbox.get(pending.id).status is Status.RELEASED


def _fields(item: NewItem) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


class OutboxStateMachineConformance:
    """A Hypothesis state machine: random operations never break the transition table.

    Mixed into the conformance classes; uses ``make_outbox`` once per test and
    unique keys per example, so it works on a shared store.
    """

    def test_random_operations_follow_the_transition_table(self, make_outbox: MakeOutbox) -> None:
        """This test ensures that any sequence of operations changes statuses only as TRANSITIONS allows."""
        from hypothesis import settings
        from hypothesis.stateful import run_state_machine_as_test

        clock = FakeClock()
        outbox = make_outbox(clock=clock.now)
        machine = _machine(outbox, clock)
        run_state_machine_as_test(
            machine, settings=settings(max_examples=25, stateful_step_count=30, deadline=None)
        )


def _machine(outbox: Outbox, clock: FakeClock) -> type:
    import itertools

    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

    from mailbill.outbox import TRANSITIONS

    counter = itertools.count(10_000)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model: dict[int, Status] = {}

        def _pick(self, data: st.DataObject) -> int | None:
            if not self.model:
                return None
            return data.draw(st.sampled_from(sorted(self.model)))

        @rule(released=st.booleans())
        def add(self, released: bool) -> None:
            status = Status.RELEASED if released else Status.DRAFT
            item = outbox.add(new_item(next(counter), batch="sm", status=status))
            self.model[item.id] = status

        @rule(data=st.data())
        def release(self, data: st.DataObject) -> None:
            item_id = self._pick(data)
            if item_id is None:
                return
            ok = self.model[item_id] in (Status.DRAFT, Status.FAILED, Status.UNCERTAIN)
            assert outbox.release([item_id]) == int(ok)
            if ok:
                self.model[item_id] = Status.RELEASED

        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            item_id = self._pick(data)
            if item_id is None:
                return
            ok = Status.CANCELLED in TRANSITIONS[self.model[item_id]]
            assert outbox.cancel([item_id]) == int(ok)
            if ok:
                self.model[item_id] = Status.CANCELLED

        @rule(limit=st.integers(0, 3))
        def claim(self, limit: int) -> None:
            due = [i for i, s in self.model.items() if s in (Status.RELEASED, Status.DEFERRED)]
            mine = {i.id for i in outbox.claim(limit, lease_seconds=60) if i.id in self.model}
            assert mine <= set(due)
            for item_id in mine:
                self.model[item_id] = Status.SENDING

        @rule(
            data=st.data(), new=st.sampled_from([Status.SENT, Status.DEFERRED, Status.FAILED, Status.PAPER])
        )
        def mark(self, data: st.DataObject, new: Status) -> None:
            item_id = self._pick(data)
            if item_id is None:
                return
            old = self.model[item_id]
            allowed = new in TRANSITIONS[old] and (
                new is not Status.SENT or old in (Status.SENDING, Status.UNCERTAIN)
            )
            try:
                if new is Status.SENT:
                    outbox.mark_sent(item_id, receipt("<x@example.com>"))
                elif new is Status.DEFERRED:
                    outbox.mark_deferred(item_id, "451", next_attempt_at=clock.now())
                elif new is Status.FAILED:
                    outbox.mark_failed(item_id, "550")
                else:
                    outbox.mark_paper(item_id, "printed")
            except InvalidTransitionError:
                assert not allowed
            else:
                assert allowed
                self.model[item_id] = new

        @rule()
        def crash_and_recover(self) -> None:
            clock.advance(61)
            for item in outbox.recover():
                if item.id in self.model:
                    self.model[item.id] = Status.UNCERTAIN

        @invariant()
        def statuses_match(self) -> None:
            for item_id, status in self.model.items():
                assert outbox.get(item_id).status is status

    return Machine
