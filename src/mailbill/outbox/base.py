"""The outbox contract: a durable store of messages with a closed status set.

An implementation subclasses :class:`Outbox` and implements the methods marked
*abstract* below (they raise :class:`NotImplementedError` here); the status
changes (``release``, ``mark_*``, ``unclaim``, ``cancel``) are written once,
here, on top of one atomic primitive, :meth:`Outbox._set_status`. The
conformance suite in ``tests/outbox/conformance.py`` checks an implementation.

Rules every implementation keeps:

- ``add`` is idempotent on the business key: a second ``add`` with the same key
  stores nothing and returns the item already stored (the latest version).
- Every status change is atomic and checked against
  :data:`~mailbill.outbox.TRANSITIONS`; a change that is not allowed raises
  :class:`~mailbill.InvalidTransitionError` and changes nothing.
- ``claim`` hands each due item to exactly one caller, even across threads and
  processes sharing the store.
- Times are timezone-aware UTC datetimes; every method that needs "now" takes a
  ``now`` keyword and otherwise asks the outbox's ``clock``.
- Addresses in the suppression list are compared case-folded.

See :mod:`mailbill.outbox._model` for the table of status transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from mailbill._models import Address
from mailbill.errors import AddressError, ConfigurationError, InvalidTransitionError
from mailbill.outbox._model import (
    PENDING_STATUSES,
    ArchiveEntry,
    Attempt,
    NewItem,
    OutboxItem,
    RecoveryPolicy,
    Status,
    SuppressionEntry,
    SuppressionReason,
)
from mailbill.suppression import suppression_key

if TYPE_CHECKING:
    from mailbill._models import SendReceipt

__all__ = ["Clock", "Outbox", "OutboxSuppressionList", "address_key", "utc_now"]

#: A function returning the current time as an aware UTC datetime.
Clock = Callable[[], datetime]

_UNSET: datetime = datetime.min.replace(tzinfo=UTC)

#: An address as a caller gives it: text or an :class:`~mailbill.Address`.
AddressT = TypeVar("AddressT", Address, str)


def keys_of(addresses: Iterable[AddressT], /) -> dict[str, list[AddressT]]:
    """``addresses`` grouped by :func:`address_key` (for :meth:`Outbox.suppressed_among`)."""
    keys: dict[str, list[AddressT]] = {}
    for address in dict.fromkeys(addresses):
        keys.setdefault(address_key(address), []).append(address)
    return keys


def as_given(
    keys: dict[str, list[AddressT]], entries: Iterable[SuppressionEntry], /
) -> dict[AddressT, SuppressionEntry]:
    """Each entry under every address of ``keys`` (from :func:`keys_of`) that it blocks."""
    return {given: entry for entry in entries for given in keys[entry.address]}


def address_key(address: Address | str, /) -> str:
    """The form the suppression list stores an address in (see ``suppression_key``).

    Text that is not a valid address is still matched, case-folded, so a person
    can block whatever a bounce report named.
    """
    try:
        return suppression_key(address)
    except AddressError:
        return str(address).strip().casefold()


def sent_attempt(receipt: SendReceipt, at: datetime) -> tuple[Status, Attempt, str]:
    """What :meth:`Outbox.mark_sent` records for ``receipt``: status, attempt and the archive's reply."""
    new = Status.HANDED_OFF if receipt.handed_off else Status.SENT
    attempt = Attempt(
        at,
        receipt.transport,
        new,
        smtp_code=receipt.reply_code,
        server_text=receipt.reply_text,
        refused=tuple(receipt.refused),
    )
    if receipt.handed_off:
        reply = f"handed off to {receipt.location or receipt.transport}"
    else:
        reply = " ".join(str(p) for p in (receipt.reply_code, receipt.reply_text) if p is not None)
    return new, attempt, reply or "accepted"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


class Outbox:
    """Base class of every outbox: a durable, shared queue of composed messages.

    Args:
        clock: Returns "now" (aware UTC) when a method gets no ``now``.
        archive: Keep an archive of the exact bytes sent, with a SHA-256 and the
            server's reply (see :meth:`archived`).

    Example:
        >>> outbox = MemoryOutbox()  # doctest: +SKIP
        >>> item = outbox.add(NewItem.from_message(message, batch="dunning-2024-11"))  # doctest: +SKIP
        >>> outbox.release(batch="dunning-2024-11")  # doctest: +SKIP
        1
    """

    def __init__(self, *, clock: Clock = utc_now, archive: bool = False) -> None:
        self.clock = clock
        self.archive = archive

    # -- helpers --------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        value = self.clock() if now is None else now
        if value.tzinfo is None:
            raise ConfigurationError("outbox times must be timezone-aware")
        return value.astimezone(UTC)

    # -- adding ---------------------------------------------------------------

    def add(self, item: NewItem, /, *, now: datetime | None = None) -> OutboxItem:
        """Store one item, or return the one already stored under its business key.

        Args:
            item: What to store.
            now: The time of adding (default: the clock).

        Returns:
            The stored item: the new one, or the latest version already stored
            for ``item.key`` (unchanged, whatever its status).
        """
        return self.add_many([item], now=now)[0]

    def add_many(self, items: Iterable[NewItem], /, *, now: datetime | None = None) -> list[OutboxItem]:
        """Store many items in one transaction, idempotently (abstract).

        Returns:
            One stored item per input, in order (existing ones where the key was known).
        """
        raise NotImplementedError

    def resend(
        self,
        key: str,
        /,
        item: NewItem | None = None,
        *,
        status: Status = Status.RELEASED,
        now: datetime | None = None,
    ) -> OutboxItem:
        """Add a new version of a document's item, keeping the old ones as history (abstract).

        Args:
            key: The business key of an item already stored.
            item: The new message (a new Message-ID is best); ``None`` reuses the
                latest version's bytes and envelope exactly (same Message-ID).
            status: DRAFT or RELEASED (the default: the person asked to send it).
            now: The time (default: the clock).

        Returns:
            The new version (``version`` one higher than the latest).

        Raises:
            ItemNotFoundError: nothing is stored under ``key``.
            InvalidTransitionError: the latest version is still pending
                (RELEASED, SENDING, DEFERRED, UNCERTAIN) or a DRAFT.
        """
        raise NotImplementedError

    # -- queries --------------------------------------------------------------

    def get(self, item_id: int, /) -> OutboxItem:
        """The item with this id, with its message bytes (abstract).

        Raises:
            ItemNotFoundError: no item has this id.
        """
        raise NotImplementedError

    def get_by_key(self, key: str, /, *, version: int | None = None) -> OutboxItem:
        """The latest version (or the given one) of a document's item, with its bytes (abstract).

        Raises:
            ItemNotFoundError: nothing is stored under ``key`` (or not that version).
        """
        raise NotImplementedError

    def find(
        self,
        *,
        status: Status | Collection[Status] | None = None,
        batch: str | None = None,
        key: str | None = None,
        reference: str | None = None,
        kind: str | None = None,
        transport: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[OutboxItem]:
        """Items matching every given filter, oldest first (by created time, then id) (abstract).

        Items are returned without message bytes (``message is None``). Every
        version of a key is an item of its own.
        """
        raise NotImplementedError

    def counts(self, *, batch: str | None = None) -> dict[Status, int]:
        """How many items have each status (every status is a key, zero included) (abstract)."""
        raise NotImplementedError

    def pending(self, *, batch: str | None = None) -> list[OutboxItem]:
        """Released but not sent yet: RELEASED, SENDING, DEFERRED and UNCERTAIN items."""
        return self.find(status=PENDING_STATUSES, batch=batch)

    def history(self, key: str, /) -> list[OutboxItem]:
        """Every version of a document's item with its attempts, oldest first (no bytes)."""
        return sorted(self.find(key=key), key=lambda item: item.version)

    def last_sent(self, keys: Iterable[str], /) -> dict[str, datetime]:
        """When each document was last sent or handed off; keys never sent are left out."""
        result: dict[str, datetime] = {}
        for key in keys:
            for item in self.find(key=key, status=(Status.SENT, Status.HANDED_OFF)):
                if item.sent_at is not None and (key not in result or item.sent_at > result[key]):
                    result[key] = item.sent_at
        return result

    # -- the dispatcher's side -------------------------------------------------

    def claim(
        self,
        limit: int,
        /,
        *,
        lease_seconds: float,
        transports: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Atomically hand up to ``limit`` due items to the caller, as SENDING (abstract).

        Due items are RELEASED or DEFERRED with ``next_attempt_at <= now``, taken
        in order of ``next_attempt_at``, then ``created_at``, then id, so mail
        deferred earlier and new mail take turns by when they became due. Each
        claimed item gets ``lease_until = now + lease_seconds``. Two callers
        never get the same item.

        Args:
            limit: The most items to hand out.
            lease_seconds: How long the caller may take before :meth:`recover`
                may take the item back.
            transports: Only items for these transport names (``None``: all).
            now: The time (default: the clock).

        Returns:
            The claimed items, with message bytes.
        """
        raise NotImplementedError

    def recover(
        self,
        *,
        policy: RecoveryPolicy = RecoveryPolicy.UNCERTAIN,
        include_unexpired: bool = False,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Take back SENDING items whose lease expired: UNCERTAIN or RELEASED by policy (abstract).

        Each recovered item gets an attempt entry with outcome UNCERTAIN or
        RELEASED and the reason "lease expired". Released items keep their bytes
        and Message-ID, so a receiver can de-duplicate a second copy.

        Args:
            policy: What to do with them (default: UNCERTAIN, for a person).
            include_unexpired: Also take back items whose lease has not expired:
                only when the caller knows no worker is running (at start-up of
                the only dispatcher).
            now: The time (default: the clock).

        Returns:
            The recovered items, in their new status.
        """
        raise NotImplementedError

    def _set_status(
        self,
        item_id: int,
        new: Status,
        /,
        *,
        now: datetime,
        allowed_from: Collection[Status] | None = None,
        attempt: Attempt | None = None,
        next_attempt_at: datetime | None = _UNSET,
        reason: str | None = None,
        sent_at: datetime | None = None,
        archive_reply: str | None = None,
    ) -> OutboxItem:
        """The one atomic status change every ``mark_*`` uses (abstract, for implementers).

        In one transaction: read the item's status, raise ItemNotFoundError if it
        is missing, InvalidTransitionError if ``new`` is not allowed from it
        (:func:`~mailbill.outbox.check_transition`) or it is not in
        ``allowed_from``; then set ``status = new``, ``updated_at = now``,
        ``lease_until = None``, ``next_attempt_at`` (unless left unset), ``reason``
        and ``sent_at`` when given; append ``attempt`` when given; and when
        ``archive_reply`` is given and :attr:`archive` is on, store an
        :class:`ArchiveEntry` of the item's bytes. Returns the item after the
        change, without its bytes (``message`` is ``None``; :meth:`get` reads
        them): a dispatcher records thousands of changes and needs none of them.
        """
        raise NotImplementedError

    def mark_sent(self, item_id: int, receipt: SendReceipt, /, *, now: datetime | None = None) -> OutboxItem:
        """Record a successful send: SENT, or HANDED_OFF when ``receipt.handed_off``.

        Allowed from SENDING, and from UNCERTAIN (a person confirmed it went out).
        The receipt's reply (and any recipients refused while others were
        accepted) is recorded as an attempt; the bytes are archived when on.
        """
        at = self._now(now)
        new, attempt, reply = sent_attempt(receipt, at)
        return self._set_status(
            item_id,
            new,
            now=at,
            attempt=attempt,
            next_attempt_at=None,
            reason="",
            sent_at=at,
            archive_reply=reply,
        )

    def mark_sent_many(
        self, sends: Iterable[tuple[int, SendReceipt]], /, *, now: datetime | None = None
    ) -> list[OutboxItem]:
        """Record many successful sends, each as :meth:`mark_sent` records it.

        This default calls :meth:`mark_sent` for each inside :meth:`transaction`;
        :class:`~mailbill.SQLiteOutbox` writes them with a few statements for all.
        Where the outbox has transactions, an error (an unknown id, an item that
        is not SENDING or UNCERTAIN) records none of them.

        Args:
            sends: ``(item id, receipt)`` pairs.
            now: The time of the sends (default: the clock).

        Returns:
            The items after the change, in the order given (as :meth:`mark_sent`
            returns them: without their bytes).
        """
        at = self._now(now)
        with self.transaction():
            return [self.mark_sent(item_id, receipt, now=at) for item_id, receipt in sends]

    def mark_deferred(
        self,
        item_id: int,
        error: BaseException | str,
        /,
        *,
        next_attempt_at: datetime,
        transport: str = "",
        now: datetime | None = None,
    ) -> OutboxItem:
        """Record a temporary failure: DEFERRED until ``next_attempt_at`` (from SENDING)."""
        at = self._now(now)
        attempt = Attempt.from_error(error, at=at, transport=transport, outcome=Status.DEFERRED)
        return self._set_status(
            item_id,
            Status.DEFERRED,
            now=at,
            attempt=attempt,
            next_attempt_at=next_attempt_at,
            reason=attempt.reason,
        )

    def mark_failed(
        self, item_id: int, error: BaseException | str, /, *, transport: str = "", now: datetime | None = None
    ) -> OutboxItem:
        """Record a permanent failure: FAILED (from SENDING, DEFERRED or UNCERTAIN)."""
        at = self._now(now)
        attempt = Attempt.from_error(error, at=at, transport=transport, outcome=Status.FAILED)
        return self._set_status(
            item_id, Status.FAILED, now=at, attempt=attempt, next_attempt_at=None, reason=attempt.reason
        )

    def mark_paper(
        self,
        item_id: int,
        reason: BaseException | str,
        /,
        *,
        transport: str = "",
        now: datetime | None = None,
    ) -> OutboxItem:
        """Send it on paper instead: PAPER, with the reason shown to a person."""
        at = self._now(now)
        attempt = Attempt.from_error(reason, at=at, transport=transport, outcome=Status.PAPER)
        return self._set_status(
            item_id, Status.PAPER, now=at, attempt=attempt, next_attempt_at=None, reason=attempt.reason
        )

    def unclaim(
        self,
        item_id: int,
        /,
        *,
        error: BaseException | str | None = None,
        not_before: datetime | None = None,
        transport: str = "",
        now: datetime | None = None,
    ) -> OutboxItem:
        """Give a claimed item back untried: SENDING -> RELEASED (the account is paused).

        Used when the account cannot send (authentication, TLS, throttling): the
        item stays released, due at ``not_before`` (default now), and its retry
        count starts again.
        """
        at = self._now(now)
        attempt = (
            Attempt.from_error(error, at=at, transport=transport, outcome=Status.RELEASED)
            if error is not None
            else Attempt(at, transport, Status.RELEASED, error_message="given back")
        )
        return self._set_status(
            item_id,
            Status.RELEASED,
            now=at,
            allowed_from=(Status.SENDING,),
            attempt=attempt,
            next_attempt_at=not_before or at,
            reason=attempt.reason if error is not None else None,
        )

    # -- a person's side -------------------------------------------------------

    def release(
        self, item_ids: Iterable[int] = (), /, *, batch: str | None = None, now: datetime | None = None
    ) -> int:
        """Release items for sending; returns how many changed.

        ``item_ids`` releases each listed DRAFT, FAILED or UNCERTAIN item (a
        person's "send these"); ``batch`` releases every DRAFT item of a batch.
        Items in other statuses are skipped (already released, sent, ...).
        Releasing a FAILED or UNCERTAIN item sends the same bytes again and
        starts its retry count again. Each release is recorded in the item's
        attempts (outcome RELEASED). Implementations may do it all in one
        transaction (SQLite does).

        Raises:
            ItemNotFoundError: an id is unknown (in one transaction, nothing changed).
        """
        at = self._now(now)
        ids = list(item_ids)
        if batch is not None:
            ids.extend(item.id for item in self.find(status=Status.DRAFT, batch=batch))
        changed = 0
        for item_id in dict.fromkeys(ids):
            try:
                self._set_status(
                    item_id,
                    Status.RELEASED,
                    now=at,
                    allowed_from=(Status.DRAFT, Status.FAILED, Status.UNCERTAIN),
                    attempt=Attempt(at, "", Status.RELEASED, error_message="released for sending"),
                    next_attempt_at=at,
                    reason="",
                )
            except InvalidTransitionError:
                continue
            changed += 1
        return changed

    def cancel(self, item_ids: Iterable[int], /, *, reason: str = "", now: datetime | None = None) -> int:
        """Withdraw items not sent yet (DRAFT, RELEASED, DEFERRED, UNCERTAIN, FAILED); returns how many.

        Items in other statuses are skipped.

        Raises:
            ItemNotFoundError: an id is unknown.
        """
        at = self._now(now)
        changed = 0
        for item_id in dict.fromkeys(item_ids):
            try:
                self._set_status(
                    item_id, Status.CANCELLED, now=at, next_attempt_at=None, reason=reason or "cancelled"
                )
            except InvalidTransitionError:
                continue
            changed += 1
        return changed

    # -- suppression list --------------------------------------------------------

    def is_suppressed(self, address: Address | str, /) -> SuppressionEntry | None:
        """The suppression entry for ``address`` (case-folded), or ``None`` (abstract)."""
        raise NotImplementedError

    def suppressed_among(self, addresses: Iterable[AddressT], /) -> dict[AddressT, SuppressionEntry]:
        """The blocked ones of ``addresses``: each, as given, with the entry blocking it.

        One question for many addresses: the dispatcher asks it once for all the
        recipients of the items it claimed. This default asks
        :meth:`is_suppressed` for each address; the outboxes shipped with
        mailbill answer it with one query.
        """
        found: dict[AddressT, SuppressionEntry] = {}
        for address in dict.fromkeys(addresses):
            entry = self.is_suppressed(address)
            if entry is not None:
                found[address] = entry
        return found

    def suppress(
        self,
        address: Address | str,
        /,
        reason: SuppressionReason | str = SuppressionReason.MANUAL,
        note: str = "",
        *,
        now: datetime | None = None,
    ) -> SuppressionEntry:
        """Block ``address``; adding it again replaces reason and note (abstract)."""
        raise NotImplementedError

    def unsuppress(self, address: Address | str, /) -> bool:
        """Unblock ``address``; returns whether it was blocked (abstract)."""
        raise NotImplementedError

    def suppressions(self) -> list[SuppressionEntry]:
        """Every blocked address, sorted (abstract)."""
        raise NotImplementedError

    @property
    def suppression(self) -> OutboxSuppressionList:
        """This outbox's suppression list, shaped like the routing ``SuppressionList``."""
        return OutboxSuppressionList(self)

    # -- archive and retention ---------------------------------------------------

    def archived(self, item_id: int, /) -> ArchiveEntry | None:
        """The archived bytes sent for an item, or ``None`` (archive off or not sent) (abstract)."""
        raise NotImplementedError

    def purge(self, older_than: datetime, /, *, items: bool = True, archives: bool = True) -> int:
        """Delete archives and final items last changed before ``older_than`` (abstract).

        Final items are SENT, HANDED_OFF, PAPER, CANCELLED and FAILED; pending
        ones are never purged. An item's archive goes with it.

        Returns:
            How many rows (items plus archives) were deleted.
        """
        raise NotImplementedError

    # -- grouping changes --------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit the changes made in the block together, when it ends.

        The :class:`~mailbill.Dispatcher` records the results of several sends
        this way: one commit (with a durable outbox, one flush to disk) instead
        of one per message. Where the outbox has transactions
        (:class:`~mailbill.SQLiteOutbox`, :class:`~mailbill.PostgresOutbox`), a
        block that raises keeps none of its changes, and a call inside it that
        raises undoes only its own change (a savepoint), so the caller may
        catch the error and go on. This default has no transactions: each
        change is kept as it is made (:class:`~mailbill.MemoryOutbox`).

        Example:
            >>> with outbox.transaction():  # doctest: +SKIP
            ...     outbox.mark_sent(first.id, receipt_1)
            ...     outbox.mark_sent(second.id, receipt_2)
        """
        yield

    # -- lifetime ------------------------------------------------------------------

    def close(self) -> None:
        """Release connections or files; the default does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class OutboxSuppressionList:
    """An outbox's suppression list, with the routing ``SuppressionList`` methods.

    Args:
        outbox: The outbox that stores the list.
    """

    def __init__(self, outbox: Outbox, /) -> None:
        self._outbox = outbox

    def is_blocked(self, address: Address | str, /) -> SuppressionEntry | None:
        """The entry blocking ``address``, or ``None``."""
        return self._outbox.is_suppressed(address)

    def add(
        self,
        address: Address | str,
        /,
        reason: SuppressionReason | str = SuppressionReason.MANUAL,
        note: str = "",
    ) -> SuppressionEntry:
        """Block ``address``."""
        return self._outbox.suppress(address, reason, note)

    def remove(self, address: Address | str, /) -> bool:
        """Unblock ``address``; returns whether it was blocked."""
        return self._outbox.unsuppress(address)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and self.is_blocked(address) is not None
