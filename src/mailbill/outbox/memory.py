"""An outbox kept in memory, behind one lock: for tests and previews."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from mailbill._models import Address
from mailbill.errors import InvalidTransitionError, ItemNotFoundError
from mailbill.outbox._model import (
    FINAL_STATUSES,
    ArchiveEntry,
    Attempt,
    NewItem,
    OutboxItem,
    RecoveryPolicy,
    Status,
    SuppressionEntry,
    SuppressionReason,
    check_transition,
    next_version,
)
from mailbill.outbox.base import _UNSET, AddressT, Clock, Outbox, address_key, as_given, keys_of, utc_now

__all__ = ["MemoryOutbox"]


class MemoryOutbox(Outbox):
    """An :class:`~mailbill.outbox.Outbox` in memory (lost when the process ends).

    Args:
        clock: Returns "now" (aware UTC) when a method gets no ``now``.
        archive: Keep an archive of the exact bytes sent.
    """

    def __init__(self, *, clock: Clock = utc_now, archive: bool = False) -> None:
        super().__init__(clock=clock, archive=archive)
        self._lock = threading.RLock()
        self._items: dict[int, OutboxItem] = {}
        self._by_key: dict[str, list[int]] = {}
        self._archive: dict[int, ArchiveEntry] = {}
        self._suppressed: dict[str, SuppressionEntry] = {}
        self._ids = itertools.count(1)

    def _store_new(self, item: NewItem, version: int, at: datetime) -> OutboxItem:
        stored = OutboxItem(
            id=next(self._ids),
            key=item.key,
            version=version,
            status=item.status,
            message=item.message,
            mail_from=item.mail_from,
            recipients=item.recipients,
            message_id=item.message_id,
            transport=item.transport,
            smtputf8=item.smtputf8,
            batch=item.batch,
            kind=item.kind,
            reference=item.reference,
            decision=item.decision,
            reason=item.reason,
            attempts=(),
            next_attempt_at=at if item.status is Status.RELEASED else None,
            lease_until=None,
            created_at=at,
            updated_at=at,
            headers=item.headers,
        )
        self._items[stored.id] = stored
        self._by_key.setdefault(item.key, []).append(stored.id)
        return stored

    def add_many(self, items: Iterable[NewItem], /, *, now: datetime | None = None) -> list[OutboxItem]:
        """Store many items, idempotently on the business key."""
        at = self._now(now)
        result = []
        with self._lock:
            for item in items:
                ids = self._by_key.get(item.key)
                result.append(self._items[ids[-1]] if ids else self._store_new(item, 1, at))
        return result

    def resend(
        self,
        key: str,
        /,
        item: NewItem | None = None,
        *,
        status: Status = Status.RELEASED,
        now: datetime | None = None,
    ) -> OutboxItem:
        """Add a new version of a document's item (see :meth:`Outbox.resend`)."""
        at = self._now(now)
        with self._lock:
            latest = self.get_by_key(key)
            if latest.status not in FINAL_STATUSES:
                raise InvalidTransitionError(
                    f"outbox item {latest.id} ({key!r}) is {latest.status.value}; resend only a finished one"
                )
            new = next_version(latest, item, status=status)
            return self._store_new(new, latest.version + 1, at)

    def get(self, item_id: int, /) -> OutboxItem:
        """The item with this id, with its bytes."""
        with self._lock:
            try:
                return self._items[item_id]
            except KeyError:
                raise ItemNotFoundError(f"no outbox item has id {item_id}") from None

    def get_by_key(self, key: str, /, *, version: int | None = None) -> OutboxItem:
        """The latest (or given) version stored under ``key``, with its bytes."""
        with self._lock:
            for item_id in reversed(self._by_key.get(key, [])):
                if version is None or self._items[item_id].version == version:
                    return self._items[item_id]
        raise ItemNotFoundError(
            f"no outbox item has key {key!r}" + (f" version {version}" if version else "")
        )

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
        """Items matching every given filter, oldest first, without bytes."""
        statuses = {status} if isinstance(status, Status) else (set(status) if status is not None else None)
        with self._lock:
            found = [
                dataclasses.replace(item, message=None)
                for item in self._items.values()
                if (statuses is None or item.status in statuses)
                and (batch is None or item.batch == batch)
                and (key is None or item.key == key)
                and (reference is None or item.reference == reference)
                and (kind is None or item.kind == kind)
                and (transport is None or item.transport == transport)
            ]
        found.sort(key=lambda i: (i.created_at, i.id))
        end = None if limit is None else offset + limit
        return found[offset:end]

    def counts(self, *, batch: str | None = None) -> dict[Status, int]:
        """How many items have each status."""
        result = dict.fromkeys(Status, 0)
        with self._lock:
            for item in self._items.values():
                if batch is None or item.batch == batch:
                    result[item.status] += 1
        return result

    def claim(
        self,
        limit: int,
        /,
        *,
        lease_seconds: float,
        transports: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Hand up to ``limit`` due items to the caller as SENDING."""
        at = self._now(now)
        lease = at + timedelta(seconds=lease_seconds)
        with self._lock:
            due = [
                item
                for item in self._items.values()
                if item.status in (Status.RELEASED, Status.DEFERRED)
                and item.next_attempt_at is not None
                and item.next_attempt_at <= at
                and (transports is None or item.transport in transports)
            ]
            due.sort(key=lambda i: (i.next_attempt_at or at, i.created_at, i.id))
            claimed = []
            for item in due[: max(limit, 0)]:
                new = dataclasses.replace(item, status=Status.SENDING, lease_until=lease, updated_at=at)
                self._items[item.id] = new
                claimed.append(new)
        return claimed

    def recover(
        self,
        *,
        policy: RecoveryPolicy = RecoveryPolicy.UNCERTAIN,
        include_unexpired: bool = False,
        now: datetime | None = None,
    ) -> list[OutboxItem]:
        """Take back SENDING items whose lease expired."""
        at = self._now(now)
        new_status = Status.UNCERTAIN if policy is RecoveryPolicy.UNCERTAIN else Status.RELEASED
        recovered = []
        with self._lock:
            for item in list(self._items.values()):
                if item.status is not Status.SENDING:
                    continue
                if not include_unexpired and item.lease_until is not None and item.lease_until > at:
                    continue
                attempt = Attempt(at, item.transport, new_status, error_message="lease expired")
                new = dataclasses.replace(
                    item,
                    status=new_status,
                    lease_until=None,
                    updated_at=at,
                    next_attempt_at=at if new_status is Status.RELEASED else None,
                    reason="lease expired while sending",
                    attempts=(*item.attempts, attempt),
                )
                self._items[item.id] = new
                recovered.append(new)
        return recovered

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
        with self._lock:
            item = self.get(item_id)
            check_transition(item_id, item.status, new)
            if allowed_from is not None and item.status not in allowed_from:
                raise InvalidTransitionError(
                    f"outbox item {item_id}: {item.status.value} cannot be changed to {new.value} this way"
                )
            changes: dict[str, object] = {"status": new, "updated_at": now, "lease_until": None}
            if next_attempt_at is not _UNSET:
                changes["next_attempt_at"] = next_attempt_at
            if reason is not None:
                changes["reason"] = reason
            if sent_at is not None:
                changes["sent_at"] = sent_at
            if attempt is not None:
                changes["attempts"] = (*item.attempts, attempt)
            updated = dataclasses.replace(item, **changes)  # type: ignore[arg-type]
            self._items[item_id] = updated
            if archive_reply is not None and self.archive and item.message is not None:
                self._archive[item_id] = ArchiveEntry(
                    item_id,
                    item.message_id,
                    ArchiveEntry.digest(item.message),
                    item.message,
                    archive_reply,
                    now,
                )
            return dataclasses.replace(updated, message=None)

    def is_suppressed(self, address: Address | str, /) -> SuppressionEntry | None:
        """The entry blocking ``address``, or ``None``."""
        with self._lock:
            return self._suppressed.get(address_key(address))

    def suppressed_among(self, addresses: Iterable[AddressT], /) -> dict[AddressT, SuppressionEntry]:
        """The blocked ones of ``addresses`` (see :meth:`Outbox.suppressed_among`)."""
        keys = keys_of(addresses)
        with self._lock:
            entries = [self._suppressed[key] for key in keys if key in self._suppressed]
        return as_given(keys, entries)

    def suppress(
        self,
        address: Address | str,
        /,
        reason: SuppressionReason | str = SuppressionReason.MANUAL,
        note: str = "",
        *,
        now: datetime | None = None,
    ) -> SuppressionEntry:
        """Block ``address``."""
        entry = SuppressionEntry(address_key(address), SuppressionReason(reason), note, self._now(now))
        with self._lock:
            self._suppressed[entry.address] = entry
        return entry

    def unsuppress(self, address: Address | str, /) -> bool:
        """Unblock ``address``."""
        with self._lock:
            return self._suppressed.pop(address_key(address), None) is not None

    def suppressions(self) -> list[SuppressionEntry]:
        """Every blocked address, sorted."""
        with self._lock:
            return sorted(self._suppressed.values(), key=lambda e: e.address)

    def archived(self, item_id: int, /) -> ArchiveEntry | None:
        """The archived bytes sent for an item, or ``None``."""
        with self._lock:
            return self._archive.get(item_id)

    def purge(self, older_than: datetime, /, *, items: bool = True, archives: bool = True) -> int:
        """Delete archives and final items last changed before ``older_than``."""
        deleted = 0
        with self._lock:
            if archives:
                for item_id, entry in list(self._archive.items()):
                    if entry.archived_at < older_than:
                        del self._archive[item_id]
                        deleted += 1
            if items:
                for item_id, item in list(self._items.items()):
                    if item.status in FINAL_STATUSES and item.updated_at < older_than:
                        del self._items[item_id]
                        self._by_key[item.key].remove(item_id)
                        if not self._by_key[item.key]:
                            del self._by_key[item.key]
                        if self._archive.pop(item_id, None) is not None:
                            deleted += 1
                        deleted += 1
        return deleted
