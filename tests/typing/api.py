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


def send_with_transports(msg: mailbill.OutgoingMessage) -> list[mailbill.SendReceipt]:
    smtp = mailbill.SMTPTransport.from_preset(
        "microsoft365", username="billing@example.com", oauth2_token=lambda: "token"
    )
    relay = mailbill.SMTPTransport("relay.example.com", port=25, security="auto", timeout=10.0)
    report: mailbill.SMTPServerReport = relay.check()
    assert report.tls or not report.starttls_offered
    drop = mailbill.FileDropTransport("/tmp/pickup", iis_pickup=True, subfolders="%Y-%m-%d")
    outlook = mailbill.OutlookTransport(mode="draft", account="billing@example.com")
    anything: mailbill.BaseTransport = mailbill.transport_from_url("memory:")
    receipts = []
    for transport in (smtp, relay, drop, outlook, anything):
        with transport:
            receipts.append(transport.send(msg))
    caps: mailbill.Capabilities = drop.capabilities
    assert caps.delivers is False
    return receipts


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


def pipelined_parallel(outbox: mailbill.SQLiteOutbox) -> mailbill.DispatchReport:
    def connection() -> mailbill.SMTPTransport:
        return mailbill.SMTPTransport(
            "smtp.example.com", username="billing", password="secret", pipelining=True, name="billing"
        )

    dispatcher = mailbill.Dispatcher(
        outbox, {"billing": connection}, rates={"billing": ["30 per minute"]}, parallel=3
    )
    return dispatcher.run_once()
