"""Helpers shared by the transport tests: a realistic message, the TLS setup type."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import trustme

from mailbill import Address, Attachment, OutgoingMessage

__all__ = ["TLSSetup", "make_message"]


def make_message(**overrides: Any) -> OutgoingMessage:
    """A realistic message: non-ASCII subject, body and display names, two attachments."""
    fields: dict[str, Any] = {
        "sender": Address.parse("Hausverwaltung Müller <billing@example.com>"),
        "to": Address.parse_list("Zoë Ñúñez <zoe@example.org>"),
        "cc": Address.parse_list("accounts@example.net"),
        "subject": "Rechnung Nr. 1001 für März - 120,00 €",
        "text": "Grüße aus Köln!\n.\nA line with a lone dot above.\n",
        "html": "<p>Grüße aus <b>Köln</b>!</p>",
        "attachments": (
            Attachment.from_bytes(bytes(range(256)) * 40, "daten.bin"),
            Attachment.from_bytes("Zeile ä\r\n".encode() * 3, "notiz.txt"),
        ),
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


@dataclass(frozen=True)
class TLSSetup:
    """A test CA, a server context with a certificate for 127.0.0.1, and a client trusting it."""

    ca: trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    ca_file: str
