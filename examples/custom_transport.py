"""Write your own transport: deliver into a Maildir folder (runnable; writes only to a temp dir).

A transport is a subclass of ``mailbill.BaseTransport`` with one method, ``send``.
This one stores each message in a Maildir (the format Dovecot and mutt read),
with the standard library's :mod:`mailbox`.

Run it::

    python examples/custom_transport.py
"""

from __future__ import annotations

import mailbox
import tempfile
from pathlib import Path

import mailbill
from mailbill import (
    Address,
    Attachment,
    BaseTransport,
    Capabilities,
    OutgoingMessage,
    SendReceipt,
    TransientDeliveryError,
)


class MaildirTransport(BaseTransport):
    """Deliver each message into a Maildir's ``new/`` folder."""

    # A Maildir keeps the exact bytes; nobody has "sent" anything, so it only hands off.
    capabilities = Capabilities(delivers=False)

    def __init__(self, path: str | Path, /, *, name: str = "maildir") -> None:
        self.name = name
        self.path = Path(path)
        self._box: mailbox.Maildir | None = None

    def open(self) -> None:
        # Optional: acquire the resource once for many messages.
        if self._box is None:
            self._box = mailbox.Maildir(self.path, create=True)

    def close(self) -> None:
        self._box = None

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        self.open()
        assert self._box is not None
        try:
            key = self._box.add(message.as_bytes())  # exactly the composed bytes
        except OSError as exc:
            # Map foreign errors into mailbill's tree and keep the cause.
            raise TransientDeliveryError(f"{self.name}: cannot write to {self.path}: {exc}") from exc
        return SendReceipt(
            message_id=message.message_id,
            transport=self.name,
            accepted=message.recipients,
            handed_off=True,
            location=str(self.path / "new" / key),
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        message = OutgoingMessage(
            sender=Address.parse("Billing <billing@example.com>"),
            to=Address.parse_list("Anna Andersson <anna@example.se>"),
            subject="Faktura 1001",
            text="Hej Anna! Fakturan finns som bilaga.",
            attachments=(Attachment.from_bytes(b"1001;Anna;120.00\n", "faktura-1001.csv"),),
        )
        with MaildirTransport(Path(tmp) / "Maildir") as transport:
            receipt = transport.send(message)

        # Check what arrived, as the conformance suite does for the built-in transports.
        stored = Path(receipt.location or "").read_bytes()
        assert stored == message.as_bytes(), "the Maildir must hold exactly the composed bytes"
        assert receipt.handed_off
        assert receipt.accepted == ("anna@example.se",)
        print(f"delivered {receipt.message_id} to {receipt.location}")

        # The built-in transports work the same way; here the in-memory one, made from a URL.
        memory = mailbill.transport_from_url("memory:")
        memory.send(message)
        print(f"and through {memory!r}")


if __name__ == "__main__":
    main()
