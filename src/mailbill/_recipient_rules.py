"""The shape of a recipient rule, and the built-in ones: parties, fixed addresses, a cascade."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from mailbill._documents import Document, Party
from mailbill._models import Address
from mailbill.errors import ConfigurationError, MailbillError, SenderNotResolvedError
from mailbill.senders import SenderCascade

__all__ = ["RecipientRule", "explicit", "from_cascade", "parties"]


class RecipientRule(Protocol):
    """A recipient rule: any callable taking the document and returning who gets it.

    A rule returns parties, addresses or address text: one, or an iterable of
    them, or ``None`` for no one. Parties are subject to opt-in and their
    addresses are taken from host data (and may be invalid); addresses a host
    configured (the office's copy) are used as given. A plain function fits;
    traces name it by its ``name`` attribute, else its ``__name__``.
    """

    def __call__(
        self, document: Document, /
    ) -> Iterable[Party | Address | str] | Party | Address | str | None:
        """Return the recipients for ``document``."""
        ...


class _Parties:
    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles
        self.name = f"parties({', '.join(sorted(roles))})" if roles else "parties"

    def __call__(self, document: Document) -> tuple[Party, ...]:
        return tuple(p for p in document.recipients if not self.roles or p.role in self.roles)


def parties(*roles: str) -> RecipientRule:
    """A rule giving the document's parties, all of them or those with one of ``roles``."""
    return _Parties(frozenset(roles))


class _Explicit:
    def __init__(self, addresses: tuple[Address, ...], name: str) -> None:
        self.addresses = addresses
        self.name = name

    def __call__(self, document: Document) -> tuple[Address, ...]:
        return self.addresses


def explicit(*addresses: str | Address, name: str | None = None) -> RecipientRule:
    """A rule giving fixed addresses: the staff an office picked for an event type, a copy to the office.

    Raises:
        ConfigurationError: an address is not valid (a setup error, found at once).
    """
    parsed: list[Address] = []
    for value in addresses:
        try:
            parsed.append(value if isinstance(value, Address) else Address.parse(value))
        except MailbillError as exc:
            raise ConfigurationError(f"explicit recipient {value!r}: {exc}") from exc
    return _Explicit(tuple(parsed), name or "explicit")


class _FromCascade:
    def __init__(self, cascade: SenderCascade, name: str) -> None:
        self.cascade = cascade
        self.name = name

    def __call__(self, document: Document) -> tuple[Address, ...]:
        try:
            return (self.cascade.resolve(document).sender.address,)
        except SenderNotResolvedError:
            return ()


def from_cascade(cascade: SenderCascade, /, *, name: str = "cascade") -> RecipientRule:
    """A rule giving the address a :class:`~mailbill.SenderCascade` resolves to.

    004 routes the office's automatic e-mails by the same cascade as its sender
    (case manager, client group, functional address, office address) unless the
    office picked recipients for the event type. When the cascade finds nothing,
    the rule gives no recipient (and the document goes on paper).
    """
    return _FromCascade(cascade, name)
