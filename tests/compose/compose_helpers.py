"""Helpers shared by the compose tests: PDFs made with pypdf and the parse-back oracle."""

from __future__ import annotations

import email.policy
import io
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from typing import cast

import pypdf

PARSER = BytesParser(policy=email.policy.default)


def make_pdf(pages: int = 1, *, password: str | None = None, owner: str | None = None) -> bytes:
    """Return the bytes of a real PDF with ``pages`` blank pages (encrypted when asked)."""
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password is not None:
        writer.encrypt(user_password=password, owner_password=owner or "owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def parse(data: bytes) -> EmailMessage:
    """Parse wire bytes the way a modern client would (``policy.default``).

    ``BytesParser`` reads raw UTF-8 headers (SMTPUTF8, RFC 6532) as surrogate
    escapes, so for such a message every header is decoded as UTF-8 and stored
    again (bodies, 8bit ones included, stay as the bytes parser read them).
    """
    msg = cast(EmailMessage, PARSER.parsebytes(data))
    if data.isascii():
        return msg
    for part in msg.walk():
        raw = list(part.raw_items())
        for name in {name for name, _ in raw}:
            del part[name]
        for name, value in raw:
            text = value.encode("ascii", "surrogateescape").decode("utf-8")
            part[name] = text.replace("\r\n", "").replace("\n", "")
    return msg


def nl(text: str) -> str:
    """Normalise line ends for comparing bodies (the wire form uses CRLF)."""
    return text.replace("\r\n", "\n")


def body(text: str) -> str:
    """What a body reads back as: every text part ends with a line break (as the stdlib writes it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Seen:
    """What a recipient's client sees in a parsed message."""

    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None
    attachments: tuple[tuple[str, str, bytes, str | None, str | None], ...]


def seen(msg: EmailMessage) -> Seen:
    """Reduce a parsed message to what a client shows: decoded headers, bodies, files."""
    headers = tuple(
        (name.lower(), str(value))
        for name, value in msg.items()
        if name.lower() not in {"content-type", "content-transfer-encoding"}
    )
    text = html = None
    files: list[tuple[str, str, bytes, str | None, str | None]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if ctype == "text/plain" and disposition is None and text is None:
            text = nl(part.get_content())
        elif ctype == "text/html" and disposition is None and html is None:
            html = nl(part.get_content())
        else:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            files.append((part.get_filename() or "", ctype, payload, disposition, part.get("Content-ID")))
    return Seen(headers, text, html, tuple(files))


def check_wire_form(data: bytes) -> None:
    """Assert CRLF line ends only, no line over 998 octets, one MIME-Version at the top."""
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    assert data.endswith(b"\r\n")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"\r\nMIME-Version: 1.0") + head.startswith(b"MIME-Version: 1.0") == 1
    assert data.count(b"MIME-Version:") == 1
