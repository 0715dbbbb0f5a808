"""The display headers of a composed message, stored beside its bytes as JSON text.

An outbox item keeps the exact bytes to send. A dispatcher also needs the
message's From, To, Cc, Reply-To and Subject (a transport's logs and receipts,
Outlook's fields, which recipient was a Bcc), and parsing them back out of the
bytes with the email package costs more than composing the whole message did.
So :meth:`NewItem.from_message <mailbill.NewItem.from_message>` stores them as
written here, and the read-back uses them; an item stored without them (made by
hand, or by an older mailbill) is parsed as before.

Format (JSON object, version 1)::

    {"v": 1, "from": ["billing@example.com", "Billing"],
     "to": [["anna@example.org", "Anna"]], "cc": [], "reply_to": [], "subject": "...",
     "wire": [3735928559, 0]}

``wire`` (optional) is what the composer found about the bytes, for SMTP: see
:mod:`mailbill._wire`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailbill import _wire

if TYPE_CHECKING:
    from mailbill._models import Address, OutgoingMessage

__all__ = ["StoredHeaders", "dump", "load"]

_VERSION = 1


@dataclass(frozen=True, slots=True)
class StoredHeaders:
    """The display headers read back from their JSON text."""

    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    wire: object = None


def _pair(address: Address) -> list[str]:
    return [address.email, address.name]


def dump(message: OutgoingMessage) -> str:
    """The JSON text of ``message``'s From, To, Cc, Reply-To and Subject (and its wire fact)."""
    fields: dict[str, object] = {
        "v": _VERSION,
        "from": _pair(message.sender),
        "to": [_pair(a) for a in message.to],
        "cc": [_pair(a) for a in message.cc],
        "reply_to": [_pair(a) for a in message.reply_to],
        "subject": message.subject,
    }
    wire = _wire.stored(message, message.as_bytes())
    if wire is not None:
        fields["wire"] = wire
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def load(text: str) -> StoredHeaders | None:
    """The headers in ``text``, or ``None`` when there are none or they are not this format.

    ``None`` sends the caller to the bytes, which are the truth; so does anything
    unexpected in the text (a damaged row must not stop a send that the bytes
    can still explain).
    """
    if not text:
        return None
    from mailbill._models import Address

    try:
        data: Any = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return None

        def addresses(key: str) -> tuple[Address, ...]:
            return tuple(Address(str(email), str(name)) for email, name in data[key])

        email, name = data["from"]
        subject = data["subject"]
        if not isinstance(subject, str):
            return None
        return StoredHeaders(
            Address(str(email), str(name)),
            addresses("to"),
            addresses("cc"),
            addresses("reply_to"),
            subject,
            data.get("wire"),
        )
    except Exception:  # see the docstring: the bytes decide
        return None
