"""The sender of a message, and the shape of a rule that picks one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from mailbill._addresses import parse_many
from mailbill._documents import Document
from mailbill._models import Address
from mailbill.errors import ConfigurationError, MailbillError

__all__ = ["Sender", "SenderRule", "as_sender", "configured_sender", "rule_name"]


@dataclass(frozen=True, slots=True)
class Sender:
    """The From side of a message.

    Example:
        >>> s = Sender.parse("noreply@system.example", reply_to="Billing <billing@acme.example>",
        ...                  transport="system")
        >>> str(s.address), [str(a) for a in s.reply_to], s.transport
        ('noreply@system.example', ['Billing <billing@acme.example>'], 'system')

    Attributes:
        address: The From address and display name.
        reply_to: Where replies go, when not to the From address.
        transport: The name of the transport (account) to send through; ``None``
            means the mailer's default.
        envelope_sender: The bounce address (SMTP MAIL FROM), when not the From address.
    """

    address: Address
    reply_to: tuple[Address, ...] = ()
    transport: str | None = None
    envelope_sender: Address | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.address, Address):
            raise ConfigurationError(
                f"Sender.address must be an Address, got {type(self.address).__name__}; use Sender.parse()"
            )
        object.__setattr__(self, "reply_to", parse_many(self.reply_to))
        if self.envelope_sender is not None and not isinstance(self.envelope_sender, Address):
            raise ConfigurationError("Sender.envelope_sender must be an Address")
        if self.transport is not None and (not isinstance(self.transport, str) or not self.transport):
            raise ConfigurationError("Sender.transport must be a non-empty name or None")

    @classmethod
    def parse(
        cls,
        address: str | Address,
        /,
        *,
        reply_to: str | Address | Iterable[str | Address] = (),
        transport: str | None = None,
        envelope_sender: str | Address | None = None,
    ) -> Sender:
        """Build a sender from text (``"Name <addr>"``) or an :class:`~mailbill.Address`.

        Raises:
            AddressError: an address does not parse.
        """
        addr = address if isinstance(address, Address) else Address.parse(address)
        envelope = Address.parse(envelope_sender) if isinstance(envelope_sender, str) else envelope_sender
        return cls(addr, parse_many(reply_to), transport, envelope)

    def __str__(self) -> str:
        text = str(self.address)
        if self.reply_to:
            text += f" (Reply-To: {', '.join(str(a) for a in self.reply_to)})"
        if self.transport:
            text += f" via {self.transport!r}"
        return text


class SenderRule(Protocol):
    """A sender rule: any callable taking the document and returning a sender or nothing.

    A rule returns a :class:`Sender`, an :class:`~mailbill.Address`, the text of
    an address, or ``None`` (or ``""``) for "no answer here, ask the next rule".
    A plain function fits. In traces a rule is named by its ``name`` attribute,
    else its ``__name__``.

    Example:
        >>> def office_noreply(document):
        ...     return "noreply@office.example" if document.kind == "welcome" else None
    """

    def __call__(self, document: Document, /) -> Sender | Address | str | None:
        """Return the sender for ``document``, or ``None`` when this rule has none."""
        ...


def rule_name(rule: object) -> str:
    """The name a rule is shown under: its ``name``, else its ``__name__``, else its repr."""
    name = getattr(rule, "name", None) or getattr(rule, "__name__", None)
    return str(name) if name else repr(rule)


def as_sender(value: object) -> Sender:
    """Turn what a rule returned into a :class:`Sender` (raises for anything else)."""
    if isinstance(value, Sender):
        return value
    if isinstance(value, Address):
        return Sender(value)
    if isinstance(value, str):
        return Sender(Address.parse(value.strip()))
    raise ConfigurationError(f"a sender rule returned {type(value).__name__}, not a Sender, Address or str")


def configured_sender(value: object, where: str) -> Sender:
    """Like :func:`as_sender` for configuration: any problem is a ConfigurationError."""
    try:
        return as_sender(value)
    except MailbillError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc
