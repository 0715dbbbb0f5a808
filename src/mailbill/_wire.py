"""What SMTP needs to know about a message's bytes, found while composing them.

Before a message goes into SMTP's DATA, every line must end in CRLF and every
line that starts with ``.`` must get a second one (RFC 5321, section 4.5.2).
Finding out means reading all of the bytes, mostly the base64 of the
attachments, at each send. The composer already knows: what it writes has CRLF
line ends only, and a dot can start a line only in the headers and the text
bodies, which it looks at (see :func:`mailbill._mime.write_message`).

So :meth:`OutgoingMessage.as_bytes <mailbill.OutgoingMessage.as_bytes>` notes
beside the bytes whether a line starts with a dot, and
:meth:`NewItem.from_message <mailbill.NewItem.from_message>` keeps that fact in
the item's stored headers with the CRC-32 of the bytes it was found for. The
dispatcher's read-back restores the fact only when the stored bytes have that
CRC-32; otherwise (bytes changed after composing, an item made by hand or by an
older mailbill) the SMTP transport checks the bytes as before.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbill._models import OutgoingMessage

__all__ = ["known_dots", "note", "restore", "stored"]

_KEY = "dots"


def known_dots(message: OutgoingMessage) -> bool | None:
    """Whether a line of ``message.as_bytes()`` starts with a dot; ``None`` when not known.

    Known means the bytes are also CRLF-only.
    """
    value = message._cache.get(_KEY)
    return value if isinstance(value, bool) else None


def note(message: OutgoingMessage, dots: bool) -> None:
    """Record what the composer found for the bytes it just cached on ``message``."""
    message._cache[_KEY] = dots


def stored(message: OutgoingMessage, data: bytes) -> list[int] | None:
    """The fact to store with ``data`` (``message``'s bytes): ``[crc32, dots]``, or ``None``."""
    dots = known_dots(message)
    return None if dots is None else [zlib.crc32(data), int(dots)]


def restore(message: OutgoingMessage, data: bytes, fact: object) -> None:
    """Note the stored ``fact`` on ``message`` (whose bytes are ``data``) if it is for these bytes."""
    if (
        isinstance(fact, list)
        and len(fact) == 2
        and all(type(v) is int for v in fact)
        and fact[1] in (0, 1)
        and zlib.crc32(data) == fact[0]
    ):
        note(message, bool(fact[1]))
