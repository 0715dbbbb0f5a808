"""Turn a stored outbox item back into an :class:`~mailbill.OutgoingMessage` to hand to a transport.

The stored bytes are the truth: the message returned composes to exactly those
bytes (``as_bytes()`` returns them), with the stored envelope. How much is read
back depends on the transport:

- a transport that sends the bytes (SMTP, file drop, memory) gets the headers
  only (addresses and subject, for its logs and receipts): those stored with
  the item (``OutboxItem.headers``) when there, else parsed from the bytes;
  parsing the bodies and attachments of every message would cost more than
  composing them did;
- a transport that rebuilds the message from fields (Outlook) gets everything:
  text and HTML bodies, attachments and inline images with their Content-IDs.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
from collections.abc import Collection
from email.headerregistry import AddressHeader
from email.message import EmailMessage

from mailbill import _stored_headers as stored_headers
from mailbill import _wire
from mailbill._models import Address, Attachment, OutgoingMessage
from mailbill.errors import DocumentError
from mailbill.outbox._model import OutboxItem

__all__ = ["message_from_item"]


def _header_addresses(header: object) -> list[Address]:
    if not isinstance(header, AddressHeader):
        return []
    return [Address(a.addr_spec, a.display_name or "") for a in header.addresses if a.addr_spec]


def _addresses(msg: EmailMessage, name: str) -> list[Address]:
    return _header_addresses(msg[name])


def _attachments(parsed: EmailMessage, bodies: Collection[object]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in parsed.walk():
        if part.is_multipart() or any(part is body for body in bodies):
            continue
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        cid = part.get("Content-ID")
        content_id = str(cid).strip().strip("<>") if cid else None
        found.append(
            Attachment(
                part.get_filename() or "attachment",
                content,
                part.get_content_type(),
                inline=content_id is not None and part.get_content_disposition() != "attachment",
                content_id=content_id,
            )
        )
    return tuple(found)


_WANTED = ("from", "to", "cc", "subject")


def _header_fields(block: bytes) -> tuple[list[Address], list[Address], list[Address], str] | None:
    """From, To, Cc and Subject of a header block, parsed as ``policy.default`` parses them.

    Only these four headers go through the email package's header parser; the
    feed parser and the other headers (Content-Type, Date, ...) are skipped.
    Returns ``None`` when a header appears twice (the caller then parses fully).
    """
    raw: dict[str, str] = {}
    lines = block.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    for n, line in enumerate(lines):
        if line[:1] in (" ", "\t"):
            continue
        name, colon, first = line.partition(":")
        key = name.lower()
        if not colon or key not in _WANTED:
            continue
        if key in raw:
            return None
        rest = []
        for follow in lines[n + 1 :]:
            if follow[:1] not in (" ", "\t"):
                break
            rest.append(follow)
        # exactly EmailPolicy.header_source_parse, then header_fetch_parse's unfolding
        raw[key] = "".join((first.lstrip(" \t") + "".join(rest)).rstrip("\r\n").splitlines())
    factory = email.policy.default.header_factory
    lists: list[list[Address]] = []
    for key in ("from", "to", "cc"):
        if key not in raw:
            lists.append([])
            continue
        header = factory(key, raw[key])
        assert isinstance(header, AddressHeader)
        lists.append(_header_addresses(header))
    subject = str(factory("subject", raw["subject"])) if "subject" in raw else ""
    return lists[0], lists[1], lists[2], subject


def message_from_item(
    item: OutboxItem, /, *, recipients: Collection[str] | None = None, bodies: bool = True
) -> OutgoingMessage:
    """The message to send for ``item``, to ``recipients`` (default: all of the item's).

    Args:
        item: The stored item (with its bytes).
        recipients: The envelope recipients still allowed (suppressed ones left out).
        bodies: Read back bodies and attachments too, for transports that do not
            send the bytes themselves (see the module docstring).

    Raises:
        DocumentError: the stored bytes are missing or cannot be read back.
    """
    if not item.message:
        raise DocumentError(f"outbox item {item.id} has no message bytes")
    allowed = [r for r in item.recipients if recipients is None or r in recipients]
    if not allowed:
        raise DocumentError(f"outbox item {item.id} has no recipient left to send to")
    if not bodies:
        known = stored_headers.load(item.headers)
        if known is not None:
            message = _envelope_message(
                item, allowed, senders=[known.sender], to_all=list(known.to), cc_all=list(known.cc),
                subject=known.subject, reply_to=list(known.reply_to),
            )  # fmt: skip
            _wire.restore(message, item.message, known.wire)
            return message
        end = item.message.find(b"\r\n\r\n")
        try:
            fields = _header_fields(item.message[: max(end, 0)])
        except Exception:  # anything unusual: the email package's parse below decides
            fields = None
        if fields is not None:
            senders, to_all, cc_all, subject = fields
            return _envelope_message(
                item, allowed, senders=senders, to_all=to_all, cc_all=cc_all, subject=subject
            )
    try:
        # UTF-8, not ASCII: a message that needs SMTPUTF8 has raw UTF-8 addresses in
        # its headers (every other message is 7-bit, where the two are the same)
        source = item.message.decode("utf-8", "surrogateescape")
        if bodies:
            parsed = email.message_from_string(source, policy=email.policy.default)
        else:
            parsed = email.parser.HeaderParser(policy=email.policy.default).parsestr(source)
        assert isinstance(parsed, EmailMessage)
        text = html = None
        attachments: tuple[Attachment, ...] = ()
        if bodies:
            text_part = parsed.get_body(("plain",))
            html_part = parsed.get_body(("html",))
            text = text_part.get_content() if isinstance(text_part, EmailMessage) else None
            html = html_part.get_content() if isinstance(html_part, EmailMessage) else None
            attachments = _attachments(parsed, [p for p in (text_part, html_part) if p is not None])
        return _envelope_message(
            item,
            allowed,
            senders=_addresses(parsed, "From"),
            to_all=_addresses(parsed, "To"),
            cc_all=_addresses(parsed, "Cc"),
            subject=str(parsed.get("Subject", "")),
            reply_to=_addresses(parsed, "Reply-To"),
            text=text,
            html=html,
            attachments=attachments,
        )
    except DocumentError:
        raise
    except Exception as exc:  # any parse problem makes this one item unsendable, not the run
        raise DocumentError(f"outbox item {item.id}: stored message cannot be read back: {exc}") from exc


def _envelope_message(
    item: OutboxItem,
    allowed: list[str],
    *,
    senders: list[Address],
    to_all: list[Address],
    cc_all: list[Address],
    subject: str,
    reply_to: list[Address] | None = None,
    text: str | None = None,
    html: str | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> OutgoingMessage:
    """The message for ``item`` from what was read back, sending the stored bytes unchanged.

    Only the recipients still ``allowed`` are kept; an allowed envelope recipient
    in neither To nor Cc was a Bcc.
    """
    sender = senders[0] if senders else Address(item.mail_from)
    to = [a for a in to_all if a.envelope in allowed]
    cc = [a for a in cc_all if a.envelope in allowed]
    shown = {a.envelope for a in (*to, *cc)}
    message = OutgoingMessage(
        sender=sender,
        to=tuple(to),
        cc=tuple(cc),
        bcc=tuple(Address(r) for r in allowed if r not in shown),
        reply_to=tuple(reply_to or ()),
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        message_id=item.message_id,
        business_key=item.key,
        envelope_sender=None if item.mail_from == sender.envelope else Address(item.mail_from),
    )
    # the stored bytes are what goes out, byte for byte (same Message-ID on every retry)
    message._cache["bytes"] = item.message
    return message
