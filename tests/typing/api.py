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
