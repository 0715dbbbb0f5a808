"""Public API as a user writes it; checked by mypy --strict, never executed."""

from __future__ import annotations

import mailbill


def build() -> bytes:
    msg = mailbill.OutgoingMessage(
        sender=mailbill.Address.parse("Billing <billing@example.com>"),
        to=mailbill.Address.parse_list("anna@example.com"),
        subject="Invoice 1001",
        text="Hello",
        attachments=(mailbill.Attachment.from_bytes(b"data", "a.txt"),),
    )
    return msg.as_bytes()


def dispatch(path: str) -> int:
    from mailbill.testing import MemoryTransport

    with mailbill.SQLiteOutbox(path, archive=True) as outbox:
        message = mailbill.OutgoingMessage(
            sender=mailbill.Address.parse("billing@example.com"),
            to=mailbill.Address.parse_list("anna@example.com"),
            business_key="invoice/1001",
        )
        item: mailbill.OutboxItem = outbox.add(mailbill.NewItem.from_message(message, batch="run-1"))
        outbox.release([item.id])
        counts: dict[mailbill.Status, int] = outbox.counts(batch="run-1")
        dispatcher = mailbill.Dispatcher(
            outbox,
            {"default": MemoryTransport()},
            rates={"default": [mailbill.Rate.parse("30/minute"), "10000 recipients/day"]},
            retry=mailbill.RetryPolicy(max_attempts=5, refused_to_paper=True),
            on_event=lambda event: print(event.key, event.new.value),
        )
        report: mailbill.DispatchReport = dispatcher.run_once()
        return report.sent + counts[mailbill.Status.SENT]
