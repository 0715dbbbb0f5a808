"""Addresses that must not be mailed: hard bounces, complaints, manual blocks.

A dunning run that keeps mailing an address that bounced hurts the sender's
reputation, and a recipient who complained must not get more. The router skips
every address on the suppression list and says so; a document left without any
address goes on paper with :attr:`~mailbill.PaperReason.BLOCKED`.

The contract, :class:`SuppressionList`, is three methods so that any store can
implement it: :class:`MemorySuppressionList` here, a table in the outbox's
database later. Addresses are matched by ``suppression_key()`` (in ``mailbill.suppression``): the whole
address case-insensitively, with the domain in its ASCII (IDNA) form. Local parts
are case-sensitive in theory; in practice no provider treats them so, and
blocking too much is the safe side.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from mailbill._models import Address

__all__ = [
    "MemorySuppressionList",
    "SuppressionEntry",
    "SuppressionList",
    "SuppressionReason",
    "suppression_key",
]


class SuppressionReason(enum.StrEnum):
    """Why an address is blocked (a closed set; stores keep the value)."""

    HARD_BOUNCE = "hard_bounce"
    """The receiving server said the mailbox does not exist (5.1.x) or refused it permanently."""
    COMPLAINT = "complaint"
    """The recipient marked a message as spam (a feedback-loop report)."""
    UNSUBSCRIBED = "unsubscribed"
    """The recipient asked for no more e-mail (paper instead)."""
    MANUAL = "manual"
    """A person blocked it (the host's "address blocked" flag, a support decision)."""


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """One blocked address.

    Attributes:
        address: The address as matched (see ``suppression_key()`` (in ``mailbill.suppression``)).
        reason: Why it is blocked.
        note: Free text for people (the bounce text, who blocked it).
        created_at: When it was blocked (UTC).
    """

    address: str
    reason: SuppressionReason
    note: str = ""
    created_at: datetime | None = None

    def __str__(self) -> str:
        text = f"{self.address} blocked ({self.reason.value})"
        return f"{text}: {self.note}" if self.note else text


def suppression_key(address: Address | str, /) -> str:
    """The form an address is matched in: case-folded, domain in ASCII when possible.

    Raises:
        AddressError: ``address`` is text that is not a valid address.
    """
    addr = address if isinstance(address, Address) else Address.parse(address)
    return addr.envelope.casefold()


@runtime_checkable
class SuppressionList(Protocol):
    """The contract every suppression store implements.

    Implementations must match addresses by ``suppression_key()`` (in ``mailbill.suppression``), and may be
    used from several threads.
    """

    def is_blocked(self, address: Address, /) -> SuppressionEntry | None:
        """Return the entry blocking ``address``, or ``None`` when it may be mailed."""
        ...

    def add(
        self, address: Address | str, reason: SuppressionReason, /, *, note: str = ""
    ) -> SuppressionEntry:
        """Block ``address``; adding it again replaces reason and note. Returns the entry."""
        ...

    def remove(self, address: Address | str, /) -> bool:
        """Unblock ``address``; return whether it was blocked."""
        ...


class MemorySuppressionList:
    """A :class:`SuppressionList` kept in memory (tests, small hosts, before an outbox exists).

    Example:
        >>> blocked = MemorySuppressionList()
        >>> _ = blocked.add("Anna@Example.se", SuppressionReason.HARD_BOUNCE, note="550 5.1.1 no such user")
        >>> blocked.is_blocked(Address.parse("anna@example.se")).reason
        <SuppressionReason.HARD_BOUNCE: 'hard_bounce'>

    Args:
        clock: Returns the current time for :attr:`SuppressionEntry.created_at`
            (injected in tests); UTC now by default.
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._entries: dict[str, SuppressionEntry] = {}
        self._lock = threading.Lock()

    def is_blocked(self, address: Address, /) -> SuppressionEntry | None:
        """Return the entry blocking ``address``, or ``None``."""
        key = suppression_key(address)
        with self._lock:
            return self._entries.get(key)

    def add(
        self, address: Address | str, reason: SuppressionReason, /, *, note: str = ""
    ) -> SuppressionEntry:
        """Block ``address`` for ``reason``.

        Raises:
            AddressError: ``address`` is not a valid address.
            TypeError: ``reason`` is not a :class:`SuppressionReason`.
        """
        if not isinstance(reason, SuppressionReason):
            raise TypeError(f"reason must be a SuppressionReason, got {reason!r}")
        key = suppression_key(address)
        entry = SuppressionEntry(key, reason, note, self._clock())
        with self._lock:
            self._entries[key] = entry
        return entry

    def remove(self, address: Address | str, /) -> bool:
        """Unblock ``address``; return whether it was blocked."""
        key = suppression_key(address)
        with self._lock:
            return self._entries.pop(key, None) is not None

    def entries(self) -> tuple[SuppressionEntry, ...]:
        """Every entry, oldest first."""
        with self._lock:
            return tuple(self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
