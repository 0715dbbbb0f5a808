"""Shared helpers for the dispatcher tests: messages and outbox items."""

from __future__ import annotations

from mailbill import Address, NewItem, OutgoingMessage, Status


def message(n: int, *, to: str | None = None, transport_domain: str = "example.com") -> OutgoingMessage:
    """A small invoice mail number ``n``."""
    return OutgoingMessage(
        sender=Address.parse(f"Billing <billing@{transport_domain}>"),
        to=Address.parse_list(to or f"customer{n}@example.org"),
        subject=f"Invoice {n}",
        text=f"Dear customer, please find invoice {n}.",
        business_key=f"invoice/{n}",
    )


def released(n: int, *, to: str | None = None, transport: str = "default", batch: str = "run-1") -> NewItem:
    """An outbox item for ``message(n)``, released for sending."""
    return NewItem.from_message(
        message(n, to=to), transport=transport, batch=batch, reference=f"Invoice {n}", status=Status.RELEASED
    )
