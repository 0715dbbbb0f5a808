"""Composing an :class:`~mailbill.OutgoingMessage`: the wire bytes and the stdlib reference.

:func:`to_bytes` (behind ``OutgoingMessage.as_bytes()``) uses the fast writer in
:mod:`mailbill._mime`. :func:`build_email_message` builds the same message with the
standard library (behind ``OutgoingMessage.as_email_message()``); the tests use it,
parsed back with ``email.policy.default``, as the oracle for the fast writer.

The shape of the MIME tree (each level only when needed)::

    multipart/mixed                 when there are regular attachments
    ├── multipart/alternative       when there is both text and HTML
    │   ├── text/plain
    │   └── multipart/related       when there are inline images
    │       ├── text/html
    │       └── image/png           inline, with a Content-ID
    └── application/pdf             attachment; filename per RFC 2231

Headers are encoded per RFC 2047, file names per RFC 2231, bodies as 7bit,
quoted-printable or base64, so no line is ever longer than 998 octets.
"""

from __future__ import annotations

import email.policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import TYPE_CHECKING

from mailbill._mime import write_message

if TYPE_CHECKING:
    from mailbill._models import Address, Attachment, OutgoingMessage

#: 7-bit transfer encodings, CRLF line ends: safe for any SMTP server.
POLICY_7BIT = email.policy.SMTP.clone(cte_type="7bit")
#: For messages that need SMTPUTF8: UTF-8 headers and 8-bit bodies.
POLICY_UTF8 = email.policy.SMTPUTF8


def _header_address(addr: Address, *, utf8: bool) -> HeaderAddress:
    email_addr = addr.email if utf8 else (addr.ascii_email or addr.email)
    local, _, domain = email_addr.rpartition("@")
    return HeaderAddress(display_name=addr.name, username=local, domain=domain)


def _attach(part: MIMEPart, att: Attachment, *, inline: bool) -> None:
    maintype, _, subtype = att.content_type.partition("/")
    if inline:
        part.add_related(
            att.content,
            maintype,
            subtype,
            disposition="inline",
            filename=att.filename,
            cid=f"<{att.content_id}>",
        )
    else:
        cid = f"<{att.content_id}>" if att.content_id else None
        part.add_attachment(att.content, maintype, subtype, filename=att.filename, cid=cid)


def build_email_message(message: OutgoingMessage) -> EmailMessage:
    """Build the standard-library message object for ``message``."""
    utf8 = message.smtputf8
    policy = POLICY_UTF8 if utf8 else POLICY_7BIT
    msg = EmailMessage(policy=policy)
    msg["From"] = _header_address(message.sender, utf8=utf8)
    if message.to:
        msg["To"] = [_header_address(a, utf8=utf8) for a in message.to]
    if message.cc:
        msg["Cc"] = [_header_address(a, utf8=utf8) for a in message.cc]
    if message.reply_to:
        msg["Reply-To"] = [_header_address(a, utf8=utf8) for a in message.reply_to]
    msg["Subject"] = message.subject
    assert message.date is not None  # set in OutgoingMessage.__post_init__
    msg["Date"] = format_datetime(message.date)
    msg["Message-ID"] = message.message_id
    for name, value in message.headers:
        msg[name] = value

    inline = [a for a in message.attachments if a.inline]
    regular = [a for a in message.attachments if not a.inline]
    if message.html is None:
        msg.set_content(message.text or "", subtype="plain", charset="utf-8")
    elif message.text is None:
        msg.set_content(message.html, subtype="html", charset="utf-8")
    else:
        msg.set_content(message.text, subtype="plain", charset="utf-8")
        msg.add_alternative(message.html, subtype="html", charset="utf-8")
    if inline:
        html_part: MIMEPart = msg
        if msg.is_multipart():
            html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
        for att in inline:
            _attach(html_part, att, inline=True)
    for att in regular:
        _attach(msg, att, inline=False)
    # set_content() on each sub-part adds its own MIME-Version; RFC 2045 wants it
    # once, at the top.
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    return msg


def reference_bytes(message: OutgoingMessage) -> bytes:
    """Compose ``message`` with the standard library (the oracle the fast writer is tested against)."""
    return build_email_message(message).as_bytes()


def to_bytes(message: OutgoingMessage) -> bytes:
    """Compose ``message`` to its wire form: CRLF line ends, lines at most 998 octets.

    Uses the fast writer in :mod:`mailbill._mime`; :func:`build_email_message` is the
    standard-library reference it is tested against.
    """
    return write_message(message)[0]


def to_wire(message: OutgoingMessage) -> tuple[bytes, bool]:
    """:func:`to_bytes`, and whether any line of the bytes starts with ``.`` (see :mod:`mailbill._wire`)."""
    return write_message(message)
