"""Plain data of the outbox: statuses, the transition table, items and attempts.

Status transitions (the only ones any outbox allows; anything else raises
:class:`~mailbill.InvalidTransitionError`):

============  ==================================================  =====================================
From          To                                                  By
============  ==================================================  =====================================
(new)         DRAFT, RELEASED, PAPER                              ``add`` / ``add_many`` / ``resend``
DRAFT         RELEASED                                            ``release`` (a person said "send")
DRAFT         PAPER, CANCELLED                                    ``mark_paper``, ``cancel``
RELEASED      SENDING                                             ``claim`` (a worker took it, leased)
RELEASED      PAPER, CANCELLED                                    ``mark_paper``, ``cancel``
SENDING       SENT                                                ``mark_sent`` (server accepted it)
SENDING       HANDED_OFF                                          ``mark_sent`` with ``handed_off``
SENDING       DEFERRED                                            ``mark_deferred`` (try again later)
SENDING       FAILED                                              ``mark_failed`` (permanent error)
SENDING       PAPER                                               ``mark_paper`` (refused, print it)
SENDING       RELEASED                                            ``unclaim`` (account paused), or
                                                                  ``recover(policy=RELEASE)``
SENDING       UNCERTAIN                                           ``recover`` (lease expired)
DEFERRED      SENDING                                             ``claim`` once due
DEFERRED      FAILED, PAPER, CANCELLED                            a person decides
UNCERTAIN     RELEASED                                            ``release``: send again, same bytes
UNCERTAIN     SENT                                                ``mark_sent``: a person confirmed it
UNCERTAIN     FAILED, PAPER, CANCELLED                            a person decides
FAILED        RELEASED                                            ``release``: try once more
FAILED        PAPER, CANCELLED                                    a person decides
============  ==================================================  =====================================

SENT, HANDED_OFF, PAPER and CANCELLED are final: sending the document again is
an explicit ``resend``, which adds a new *version* of the item and keeps the
old one as history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from mailbill import _stored_headers as stored_headers
from mailbill.errors import (
    ConfigurationError,
    DeliveryError,
    InvalidTransitionError,
    RefusedRecipient,
)
from mailbill.suppression import SuppressionEntry, SuppressionReason

if TYPE_CHECKING:
    from mailbill._models import OutgoingMessage

__all__ = [
    "FINAL_STATUSES",
    "PENDING_STATUSES",
    "TRANSITIONS",
    "ArchiveEntry",
    "Attempt",
    "NewItem",
    "OutboxItem",
    "RecoveryPolicy",
    "Status",
    "SuppressionEntry",
    "SuppressionReason",
    "check_transition",
    "next_version",
]


class Status(StrEnum):
    """The closed set of statuses of an outbox item (see the module docstring's table)."""

    DRAFT = "draft"
    """Prepared, waiting for a person (or the host) to release it."""
    RELEASED = "released"
    """Released for sending; due at ``next_attempt_at``."""
    SENDING = "sending"
    """Claimed by a worker that holds a lease until ``lease_until``."""
    SENT = "sent"
    """A mail server accepted it (final)."""
    HANDED_OFF = "handed_off"
    """A transport passed it on (pickup folder, Outlook) and cannot say it was sent (final)."""
    DEFERRED = "deferred"
    """A temporary failure; tried again at ``next_attempt_at``."""
    FAILED = "failed"
    """A permanent failure or the retries ran out; a person decides what next."""
    UNCERTAIN = "uncertain"
    """A worker died while sending: the server may or may not have it; a person decides."""
    PAPER = "paper"
    """Not e-mailed: no or blocked address, or refused; print it (final)."""
    CANCELLED = "cancelled"
    """Withdrawn before it was sent (final)."""


_S = Status

#: Every allowed status change: ``TRANSITIONS[old]`` is the set of allowed new statuses.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    _S.DRAFT: frozenset({_S.RELEASED, _S.PAPER, _S.CANCELLED}),
    _S.RELEASED: frozenset({_S.SENDING, _S.PAPER, _S.CANCELLED}),
    _S.SENDING: frozenset(
        {_S.SENT, _S.HANDED_OFF, _S.DEFERRED, _S.FAILED, _S.PAPER, _S.RELEASED, _S.UNCERTAIN}
    ),
    _S.DEFERRED: frozenset({_S.SENDING, _S.FAILED, _S.PAPER, _S.CANCELLED}),
    _S.UNCERTAIN: frozenset({_S.RELEASED, _S.SENT, _S.FAILED, _S.PAPER, _S.CANCELLED}),
    _S.FAILED: frozenset({_S.RELEASED, _S.PAPER, _S.CANCELLED}),
    _S.SENT: frozenset(),
    _S.HANDED_OFF: frozenset(),
    _S.PAPER: frozenset(),
    _S.CANCELLED: frozenset(),
}

#: Statuses nothing more happens to without a ``resend`` (``purge`` may remove them).
FINAL_STATUSES = frozenset({_S.SENT, _S.HANDED_OFF, _S.PAPER, _S.CANCELLED, _S.FAILED})

#: "Released but not sent": the reminder list of a host UI.
PENDING_STATUSES = frozenset({_S.RELEASED, _S.SENDING, _S.DEFERRED, _S.UNCERTAIN})

#: Statuses a new item may start in.
INITIAL_STATUSES = frozenset({_S.DRAFT, _S.RELEASED, _S.PAPER})


def check_transition(item_id: int, old: Status, new: Status) -> None:
    """Raise :class:`~mailbill.InvalidTransitionError` unless ``old -> new`` is allowed."""
    if new not in TRANSITIONS[old]:
        raise InvalidTransitionError(f"outbox item {item_id}: cannot go from {old.value} to {new.value}")


class RecoveryPolicy(StrEnum):
    """What :meth:`Outbox.recover` does with an item whose worker's lease expired."""

    UNCERTAIN = "uncertain"
    """Mark it UNCERTAIN for a person to decide (the default: never sends twice)."""
    RELEASE = "release"
    """Release it again with the same bytes and Message-ID (may send twice; receivers can de-duplicate)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to send an item, or a release or recovery, with what came back.

    The history of an item: every try (outcome SENT, HANDED_OFF, DEFERRED,
    FAILED, PAPER), every release for sending (outcome RELEASED: by a person,
    by ``unclaim`` or by recovery) and every recovery to UNCERTAIN.

    Attributes:
        at: When it ended (UTC).
        transport: The transport (account) name.
        outcome: The status the item went to.
        smtp_code: The server's reply code, when there was one.
        enhanced_status: The RFC 3463 enhanced status code, when given.
        server_text: The server's reply text, when there was one.
        error_class: The exception's class name, when it failed.
        error_message: The exception's message, when it failed.
        refused: Recipients refused while others were accepted (or all, on failure).
    """

    at: datetime
    transport: str
    outcome: Status
    smtp_code: int | None = None
    enhanced_status: str | None = None
    server_text: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    refused: tuple[RefusedRecipient, ...] = ()

    @classmethod
    def from_error(
        cls, error: BaseException | str, *, at: datetime, transport: str, outcome: Status
    ) -> Attempt:
        """Describe a failed try from an exception (or a plain reason text)."""
        if isinstance(error, str):
            return cls(at, transport, outcome, error_message=error)
        refused: tuple[RefusedRecipient, ...] = tuple(getattr(error, "refused", ()) or ())
        if isinstance(error, DeliveryError):
            return cls(
                at,
                transport,
                outcome,
                smtp_code=error.smtp_code,
                enhanced_status=error.enhanced_status,
                server_text=error.server_text,
                error_class=type(error).__name__,
                error_message=str(error),
                refused=refused,
            )
        return cls(at, transport, outcome, error_class=type(error).__name__, error_message=str(error))

    @property
    def reason(self) -> str:
        """A one-line summary for a person: the server's reply or the error."""
        if self.smtp_code is not None:
            parts = [str(self.smtp_code), self.enhanced_status or "", self.server_text or ""]
            return " ".join(p for p in parts if p)
        return self.error_message or self.outcome.value


@dataclass(frozen=True, slots=True)
class NewItem:
    """What to put into the outbox: the exact bytes to send and where they go.

    Attributes:
        key: The business key, unique per document (``"dunning/2024-11/1001"``).
        message: The composed message bytes, exactly what will be sent
            (``b""`` only for an item that starts as PAPER).
        mail_from: The envelope sender (SMTP MAIL FROM).
        recipients: The envelope recipients.
        message_id: The Message-ID inside ``message``.
        transport: The name of the transport (account) to send it with.
        smtputf8: Whether sending needs SMTPUTF8.
        batch: The batch (run) it belongs to, if any.
        kind: The document kind (``"invoice"``, ``"dunning"``, ...).
        reference: The document reference a person recognises (``"Invoice 1001"``).
        decision: JSON text explaining who it goes to, from whom, and why (or why paper).
        status: DRAFT (the default, for review), RELEASED (send without review) or PAPER.
        reason: Why it starts as PAPER (no address, blocked address), shown to a person.
        headers: JSON text of the message's From, To, Cc, Reply-To and Subject, set
            by :meth:`from_message` so a dispatcher need not parse the bytes for
            them; empty: they are read from the bytes. It also holds what the
            composer found about the bytes for SMTP (CRLF only, any line starting
            with a dot) with their CRC-32; bytes with another CRC-32 are checked
            in full.
    """

    key: str
    message: bytes
    mail_from: str
    recipients: tuple[str, ...]
    message_id: str
    transport: str = "default"
    smtputf8: bool = False
    batch: str | None = None
    kind: str = ""
    reference: str = ""
    decision: str = "{}"
    status: Status = Status.DRAFT
    reason: str = ""
    headers: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ConfigurationError("an outbox item needs a non-empty business key")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        object.__setattr__(self, "status", Status(self.status))
        if self.status not in INITIAL_STATUSES:
            raise InvalidTransitionError(f"a new outbox item cannot start as {self.status.value}")
        if self.status is not Status.PAPER and not (self.message and self.recipients):
            raise ConfigurationError(f"outbox item {self.key!r} needs message bytes and recipients")

    @classmethod
    def from_message(
        cls,
        message: OutgoingMessage,
        /,
        *,
        key: str | None = None,
        transport: str = "default",
        batch: str | None = None,
        kind: str = "",
        reference: str = "",
        decision: str = "{}",
        status: Status = Status.DRAFT,
    ) -> NewItem:
        """Make an item from a composed message (its bytes, envelope and business key).

        Raises:
            ConfigurationError: no ``key`` given and the message has no ``business_key``.
        """
        business_key = key or message.business_key
        if not business_key:
            raise ConfigurationError("give a key or set OutgoingMessage.business_key")
        return cls(
            key=business_key,
            message=message.as_bytes(),
            mail_from=message.mail_from,
            recipients=message.recipients,
            message_id=message.message_id,
            transport=transport,
            smtputf8=message.smtputf8,
            batch=batch,
            kind=kind,
            reference=reference,
            decision=decision,
            status=status,
            headers=stored_headers.dump(message),
        )

    @classmethod
    def paper(
        cls,
        key: str,
        /,
        reason: str,
        *,
        batch: str | None = None,
        kind: str = "",
        reference: str = "",
        decision: str = "{}",
        transport: str = "default",
    ) -> NewItem:
        """An item that starts as PAPER (no or blocked address), with the reason shown to a person."""
        return cls(
            key=key,
            message=b"",
            mail_from="",
            recipients=(),
            message_id="",
            transport=transport,
            batch=batch,
            kind=kind,
            reference=reference,
            decision=decision,
            status=Status.PAPER,
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One item as stored: a snapshot; change it only through the outbox's methods.

    Attributes:
        id: The outbox's id for this item (one per version).
        key: The business key.
        version: 1 for the first item of a key, +1 for each ``resend``.
        status: Where it stands.
        message: The message bytes; ``None`` in list queries (``find``,
            ``pending``, ``history``), loaded by ``get``, ``get_by_key`` and ``claim``.
        mail_from: The envelope sender.
        recipients: The envelope recipients.
        message_id: The Message-ID.
        transport: The transport (account) name.
        smtputf8: Whether sending needs SMTPUTF8.
        batch: The batch id, if any.
        kind: The document kind.
        reference: The document reference.
        decision: JSON text: recipients, sender, why (or why paper).
        reason: The last error or the paper/cancel reason, for a person.
        attempts: Every try so far, oldest first.
        next_attempt_at: When it is due (RELEASED, DEFERRED).
        lease_until: When the worker's lease ends (SENDING).
        created_at: When it was added.
        updated_at: When its status last changed.
        sent_at: When it was sent or handed off.
        headers: JSON text of the message's display headers (see :attr:`NewItem.headers`).
    """

    id: int
    key: str
    version: int
    status: Status
    message: bytes | None
    mail_from: str
    recipients: tuple[str, ...]
    message_id: str
    transport: str
    smtputf8: bool
    batch: str | None
    kind: str
    reference: str
    decision: str
    reason: str
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    headers: str = ""

    @property
    def attempt_count(self) -> int:
        """Real tries since it was last released again (by a person, recovery or ``unclaim``).

        Entries with outcome RELEASED or UNCERTAIN are status changes, not tries,
        and an entry with outcome RELEASED starts the count again, so a person
        who releases a FAILED item gives it a fresh set of retries.
        """
        count = 0
        for attempt in self.attempts:
            if attempt.outcome is Status.RELEASED:
                count = 0
            elif attempt.outcome is not Status.UNCERTAIN:
                count += 1
        return count

    @property
    def retry_since(self) -> datetime:
        """When the current round of tries began: the last re-release, or creation."""
        for attempt in reversed(self.attempts):
            if attempt.outcome is Status.RELEASED:
                return attempt.at
        return self.created_at

    @property
    def last_attempt(self) -> Attempt | None:
        """The latest entry of :attr:`attempts`, if any."""
        return self.attempts[-1] if self.attempts else None

    @property
    def is_final(self) -> bool:
        """Whether nothing more happens to it without a person or a ``resend``."""
        return self.status in FINAL_STATUSES


def next_version(latest: OutboxItem, item: NewItem | None, /, *, status: Status) -> NewItem:
    """What :meth:`Outbox.resend` stores as the next version of ``latest``.

    ``item`` under ``latest``'s key with ``status``, or, without one, the same
    bytes, envelope and Message-ID again (every outbox builds it here).
    """
    if item is not None:
        return replace(item, key=latest.key, status=status)
    return NewItem(
        key=latest.key,
        message=latest.message or b"",
        mail_from=latest.mail_from,
        recipients=latest.recipients,
        message_id=latest.message_id,
        transport=latest.transport,
        smtputf8=latest.smtputf8,
        batch=latest.batch,
        kind=latest.kind,
        reference=latest.reference,
        decision=latest.decision,
        status=status,
        headers=latest.headers,
    )


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """The exact bytes that were sent, with a checksum and the server's reply.

    Attributes:
        item_id: The outbox item.
        message_id: Its Message-ID.
        sha256: The hex SHA-256 of ``data``.
        data: The bytes sent.
        reply: The server's final reply (``"250 OK"``), or the hand-off location.
        archived_at: When it was archived (UTC).
    """

    item_id: int
    message_id: str
    sha256: str
    data: bytes
    reply: str
    archived_at: datetime

    @staticmethod
    def digest(data: bytes) -> str:
        """The hex SHA-256 used in :attr:`sha256`."""
        return hashlib.sha256(data).hexdigest()
