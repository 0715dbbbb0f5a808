"""Turn a stored outbox item back into an :class:`~mailbill.OutgoingMessage` to hand to a transport.

The stored bytes are the truth: the message returned composes to exactly those
bytes (``as_bytes()`` returns them), with the stored envelope. The structured
fields (addresses, subject, bodies) are read back from the bytes for transports
that rebuild a message from fields (Outlook); attachments are not read back.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Collection
from email.headerregistry import AddressHeader
from email.message import EmailMessage

from mailbill._models import Address, OutgoingMessage
from mailbill.errors import DocumentError
from mailbill.outbox._model import OutboxItem

__all__ = ["message_from_item"]


def _addresses(msg: EmailMessage, name: str) -> list[Address]:
    header = msg[name]
    if header is None or not isinstance(header, AddressHeader):
        return []
    return [Address(a.addr_spec, a.display_name or "") for a in header.addresses if a.addr_spec]


def message_from_item(item: OutboxItem, /, *, recipients: Collection[str] | None = None) -> OutgoingMessage:
    """The message to send for ``item``, to ``recipients`` (default: all of the item's).

    Raises:
        DocumentError: the stored bytes are missing or cannot be read back.
    """
    if not item.message:
        raise DocumentError(f"outbox item {item.id} has no message bytes")
    allowed = [r for r in item.recipients if recipients is None or r in recipients]
    if not allowed:
        raise DocumentError(f"outbox item {item.id} has no recipient left to send to")
    try:
        parsed = email.message_from_bytes(item.message, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        senders = _addresses(parsed, "From")
        sender = senders[0] if senders else Address(item.mail_from)
        to = [a for a in _addresses(parsed, "To") if a.envelope in allowed]
        cc = [a for a in _addresses(parsed, "Cc") if a.envelope in allowed]
        shown = {a.envelope for a in (*to, *cc)}
        bcc = [Address(r) for r in allowed if r not in shown]
        text_part = parsed.get_body(("plain",))
        html_part = parsed.get_body(("html",))
        message = OutgoingMessage(
            sender=sender,
            to=tuple(to),
            cc=tuple(cc),
            bcc=tuple(bcc),
            subject=str(parsed.get("Subject", "")),
            text=text_part.get_content() if isinstance(text_part, EmailMessage) else None,
            html=html_part.get_content() if isinstance(html_part, EmailMessage) else None,
            message_id=item.message_id,
            business_key=item.key,
            envelope_sender=None if item.mail_from == sender.envelope else Address(item.mail_from),
        )
    except DocumentError:
        raise
    except Exception as exc:  # any parse problem makes this one item unsendable, not the run
        raise DocumentError(f"outbox item {item.id}: stored message cannot be read back: {exc}") from exc
    # the stored bytes are what goes out, byte for byte (same Message-ID on every retry)
    message._cache["bytes"] = item.message
    return message
