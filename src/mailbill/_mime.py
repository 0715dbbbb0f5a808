"""The fast writer: an :class:`~mailbill.OutgoingMessage` straight to wire bytes.

It writes the same MIME tree as the standard-library reference in
:mod:`mailbill._compose` (which the tests use as the oracle) without building
``EmailMessage`` objects: headers are encoded once (:mod:`mailbill._headers`),
bodies with the C encoders in :mod:`binascii`, and the tree is joined as bytes.

Bodies: ASCII text with lines up to 998 octets is ``7bit``; other text is
quoted-printable when that is shorter than base64 (Latin scripts; a dot that starts a
line is written ``=2E``), else base64;
attachments are always base64 in 76-column lines. Line ends are CRLF throughout.
"""

from __future__ import annotations

import binascii
import re
import secrets
import struct
from collections.abc import Callable
from email.utils import format_datetime
from itertools import chain
from typing import TYPE_CHECKING

from mailbill._headers import address_field, fold, mailbox, param_tokens, unstructured_field

if TYPE_CHECKING:
    from mailbill._models import Address, Attachment, OutgoingMessage

__all__ = ["write_message"]

_HIGH = bytes(range(128, 256))
_QP_LINE = 76  # the longest quoted-printable line (RFC 2045, section 6.7)
_LINE_76 = re.compile(rb".{1,76}", re.DOTALL)
_LINES_64 = struct.Struct("76s" * 64)
# binascii.b2a_qp writes a line's last blank as "=20"/"=09" without counting the
# two characters it adds, so a line can reach 77 or 78: those need a soft break.
_QP_BLANK_END = re.compile(rb"=(?:20|09)\n")  # one pass: half the time of two "in" tests
_TEXT_TYPE = {
    "plain": b'Content-Type: text/plain; charset="utf-8"\r\n',
    "html": b'Content-Type: text/html; charset="utf-8"\r\n',
}
_CTE = {
    "7bit": b"Content-Transfer-Encoding: 7bit\r\n",
    "quoted-printable": b"Content-Transfer-Encoding: quoted-printable\r\n",
    "base64": b"Content-Transfer-Encoding: base64\r\n",
}

# A part is (its header block, its body, the pieces a boundary must be checked
# against, the pieces a line starting with "." could be in). Head and body end
# with CRLF; a body is the list of pieces to join (joined once, at the end,
# instead of at every level of a multipart). Base64 and quoted-printable bodies
# are not among the pieces to check: neither encoding can produce "=_", which
# every boundary marker ("--=_mb_...") holds. Neither starts a line with ".":
# base64 has none, and quoted-printable writes it as "=2E" there.
_Part = tuple[bytes, list[bytes], tuple[bytes, ...], tuple[bytes, ...]]


def _mailbox_tokens(addr: Address, *, utf8: bool) -> list[str]:
    # Cached on the Address: a batch usually shares one sender object.
    key = "utf8" if utf8 else "ascii"
    cached = addr._tokens.get(key)
    if cached is None:
        spec = addr.email if utf8 else (addr.ascii_email or addr.email)
        cached = addr._tokens[key] = mailbox(addr.name, spec)
    return cached


def _base64(data: bytes) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    if not encoded:
        return b""
    # Cut into 76-character lines in C: whole blocks of 64 lines with one struct
    # each (half the time of the regular expression), the rest with the expression.
    full = len(encoded) - len(encoded) % _LINES_64.size
    lines = list(chain.from_iterable(_LINES_64.iter_unpack(memoryview(encoded)[:full])))
    lines += _LINE_76.findall(encoded, full)
    lines.append(b"")
    return b"\r\n".join(lines)


def _text_part(text: str, subtype: str) -> _Part:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    # 7bit allows neither NUL (RFC 2045 section 2.7) nor lines over 998 octets.
    if text.isascii() and "\x00" not in text and (len(text) <= 998 or max(map(len, text.split("\n"))) <= 998):
        head = _TEXT_TYPE[subtype] + _CTE["7bit"]
        body = text.replace("\n", "\r\n").encode("ascii")
        return head, [body], (head, body), (head, body)  # plain text could hold anything: check it
    else:
        raw = text.encode("utf-8")
        # Each non-ASCII character adds at least one byte, so at most twice the
        # growth are high bytes: Latin text is settled without counting them.
        high = 2 * (len(raw) - len(text))
        if high * 6 >= len(raw):
            high = len(raw) - len(raw.translate(None, _HIGH))
        if high * 6 < len(raw):
            # b2a_qp keeps the input's "\n" line ends and encodes blanks before them.
            qp = _encode_leading_dots(_break_long_blank_ends(binascii.b2a_qp(raw, istext=True)))
            cte, body = "quoted-printable", qp.replace(b"\n", b"\r\n")
        else:
            cte, body = "base64", _base64(raw)
    head = _TEXT_TYPE[subtype] + _CTE[cte]
    return head, [body], (head,), (head,)


def _break_long_blank_ends(qp: bytes) -> bytes:
    """Soft-break the quoted-printable lines that end in an encoded blank and exceed 76 characters."""
    out: list[bytes] = []
    done = 0
    # Only the lines ending in "=20"/"=09" are measured: a pattern anchored at
    # every line start took as long as encoding the text.
    for match in _QP_BLANK_END.finditer(qp):
        at = match.start()
        if at - (qp.rfind(b"\n", 0, at) + 1) > _QP_LINE - 3:  # "=20" takes the line past 76
            out += (qp[done:at], b"=\n")
            done = at
    if not out:
        return qp
    out.append(qp[done:])
    return b"".join(out)


def _encode_leading_dots(qp: bytes) -> bytes:
    """Write a ``.`` that starts a quoted-printable line (``\\n`` line ends) as ``=2E``.

    Then no line of the body starts with a dot, so SMTP need not copy the whole
    message to double one (HTML with CSS rules often has such lines). A line that
    grows past 76 characters gets a soft break, outside any ``=XX``.
    """
    if qp.startswith(b"."):
        at = 0
    else:
        at = qp.find(b"\n.") + 1
        if at == 0:
            return qp
    out: list[bytes] = []
    done = 0
    while at >= 0:
        end = qp.find(b"\n", at)
        end = len(qp) if end < 0 else end
        out += (qp[done:at], _dot_line(qp[at:end]))
        done = end
        at = qp.find(b"\n.", end)
        at = at + 1 if at >= 0 else -1
    out.append(qp[done:])
    return b"".join(out)


def _dot_line(line: bytes) -> bytes:
    lines: list[bytes] = []
    while line.startswith(b"."):
        line = b"=2E" + line[1:]
        if len(line) <= _QP_LINE:
            break
        cut = _QP_LINE - 1  # room for the soft break's "="
        if line[cut - 1 : cut] == b"=":
            cut -= 1
        elif line[cut - 2 : cut - 1] == b"=":
            cut -= 2
        lines.append(line[:cut] + b"=")
        line = line[cut:]
    lines.append(line)
    return b"\n".join(lines)


def _attachment_part(att: Attachment) -> _Part:
    disposition = "inline" if att.inline else "attachment"
    head = [
        f"Content-Type: {att.content_type}\r\n".encode("ascii"),
        _CTE["base64"],
        fold("Content-Disposition", [disposition + ";", *param_tokens("filename", att.filename)]),
    ]
    if att.content_id is not None:
        head.append(f"Content-ID: <{att.content_id}>\r\n".encode())
    joined = b"".join(head)
    return joined, [_base64(att.content)], (joined,), (joined,)


def _multipart(
    subtype: str, children: list[_Part], *, token: Callable[[int], str] = secrets.token_hex
) -> _Part:
    checked = [piece for _, _, pieces, _ in children for piece in pieces]
    while True:
        boundary = "=_mb_" + token(12)
        marker = b"--" + boundary.encode("ascii")
        # A random boundary all but never occurs, but headers and 7bit text could
        # hold it: make sure (base64 and quoted-printable cannot, see _Part).
        if not any(marker in piece for piece in checked):
            break
    out: list[bytes] = []
    for head, body, _, _ in children:
        out += (marker, b"\r\n", head, b"\r\n", *body, b"\r\n")
    out += (marker, b"--\r\n")
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode("ascii")
    lines = tuple(piece for _, _, _, pieces in children for piece in pieces)
    # an enclosing multipart must not reuse this boundary either: its marker is checked too
    return head, out, (head, marker, *checked), (head, *lines)


def _body_tree(message: OutgoingMessage) -> _Part:
    # The same shape as the standard-library reference builds.
    inline = [_attachment_part(a) for a in message.attachments if a.inline]
    regular = [_attachment_part(a) for a in message.attachments if not a.inline]
    if message.html is None:
        root = _text_part(message.text or "", "plain")
        if inline:
            root = _multipart("related", [root, *inline])
    elif message.text is None:
        root = _text_part(message.html, "html")
        if inline:
            root = _multipart("related", [root, *inline])
    else:
        html = _text_part(message.html, "html")
        if inline:
            html = _multipart("related", [html, *inline])
        root = _multipart("alternative", [_text_part(message.text, "plain"), html])
    if regular:
        root = _multipart("mixed", [root, *regular])
    return root


def write_message(message: OutgoingMessage) -> tuple[bytes, bool]:
    """Return the wire form of ``message`` and whether any of its lines starts with ``.``.

    The bytes have CRLF line ends (no bare CR or LF) and no line over 998
    octets. The second value is found by looking at the headers and text
    bodies only (base64 has no dot), so SMTP need not search the whole message
    for lines to dot-stuff.
    """
    utf8 = message.smtputf8
    out: list[bytes] = [address_field("From", [_mailbox_tokens(message.sender, utf8=utf8)])]
    for name, addrs in (("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)):
        if addrs:
            out.append(address_field(name, [_mailbox_tokens(a, utf8=utf8) for a in addrs]))
    out.append(unstructured_field("Subject", message.subject))
    assert message.date is not None  # set in OutgoingMessage.__post_init__
    out.append(f"Date: {format_datetime(message.date)}\r\nMessage-ID: {message.message_id}\r\n".encode())
    out.extend(unstructured_field(name, value) for name, value in message.headers)
    head, body, _, lines = _body_tree(message)
    out += (b"MIME-Version: 1.0\r\n", head, b"\r\n", *body)
    # A header line never starts with a dot: a field starts with its name, a
    # folded line with a blank. Each body piece starts a line.
    dots = any(piece[:1] == b"." or b"\n." in piece for piece in lines)
    return b"".join(out), dots
