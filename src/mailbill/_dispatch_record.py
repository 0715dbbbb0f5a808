"""How the dispatcher records what became of each claimed item, in the outbox and in events.

A run of successful sends is recorded in one outbox transaction
(:class:`_Unrecorded` says when); a failure goes through the retry policy; an
item given back untried returns to RELEASED. Every recorded change is counted
for the run's report and announced to the host's ``on_event`` hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from mailbill._dispatch_report import DispatchEvent, DispatchFailure, _Run
from mailbill._models import SendReceipt
from mailbill._ratelimit import RateLimiter
from mailbill._retry import RetryPolicy
from mailbill.errors import AccountError, ConfigurationError
from mailbill.outbox._model import OutboxItem, Status, SuppressionReason
from mailbill.outbox.base import Clock, Outbox

__all__ = ["_Recording", "_Unrecorded"]

logger = logging.getLogger(__name__)


class _Recording:
    """The dispatcher's recording half (a base class of :class:`~mailbill.Dispatcher`)."""

    outbox: Outbox
    retry: RetryPolicy
    _clock: Clock
    _on_event: Callable[[DispatchEvent], None] | None

    def _account_down(self, run: _Run, name: str, limiter: RateLimiter, exc: BaseException) -> None:
        if not isinstance(exc, AccountError | ConfigurationError):  # cannot connect now: later
            limiter.pause_for(self.retry.rate_limit_pause)
            with run.lock:
                run.stopped[name] = f"cannot connect: {exc}"
            return
        with run.lock:
            run.stopped[name] = f"{type(exc).__name__}: {exc}"
        logger.error("account %s stopped: %s", name, exc)

    def _flush(self, run: _Run, sent: _Unrecorded) -> None:
        """Record the sends in ``sent`` in one outbox transaction, then announce them.

        A change that fails ends the recording there: the changes before it are
        kept, its error is raised, and the items after it stay SENDING (recovery
        makes them UNCERTAIN: they were sent).
        """
        if not sent.items:
            return
        pending, sent.items = sent.items, []
        events: list[DispatchEvent] = []
        failure: Exception | None = None
        with self.outbox.transaction():
            try:
                events = self._mark_all_sent(run, pending)
            except Exception:
                logger.debug("recording %d sends together failed; one by one", len(pending), exc_info=True)
                for item, receipt in pending:
                    try:
                        events.append(self._mark_sent(run, item, receipt))
                    except Exception as exc:  # raised once the changes before it are committed
                        failure = exc
                        break
        for event in events:
            self._emit(event)
        if failure is not None:
            raise failure

    def _mark_all_sent(
        self, run: _Run, pending: Sequence[tuple[OutboxItem, SendReceipt]]
    ) -> list[DispatchEvent]:
        """Record every send of ``pending`` with one :meth:`~mailbill.Outbox.mark_sent_many` call.

        All or none, where the outbox has transactions; the events are returned
        for the caller to announce once they are committed.
        """
        for _, receipt in pending:
            self._suppress_refused(receipt)
        updated = self.outbox.mark_sent_many([(item.id, receipt) for item, receipt in pending])
        return [self._sent(run, item, now) for (item, _), now in zip(pending, updated, strict=True)]

    def _sending(self, run: _Run, item: OutboxItem) -> None:
        old = (
            Status.DEFERRED
            if item.last_attempt and item.last_attempt.outcome is Status.DEFERRED
            else Status.RELEASED
        )
        self._emit(DispatchEvent(item.id, item.key, old, Status.SENDING, "", item.transport))
        self._count(run, Status.SENDING)

    def _give_back(self, run: _Run, items: Sequence[OutboxItem], why: BaseException | str) -> None:
        for item in items:
            self._change(run, item, Status.RELEASED, why)

    def _record_error(
        self, run: _Run, item: OutboxItem, exc: BaseException, limiter: RateLimiter, name: str
    ) -> None:
        """Record a send that failed: what the retry policy decides for the error."""
        now = self._clock()
        decision = self.retry.decide(item, exc, now=now) if not isinstance(exc, ConfigurationError) else None
        if decision is None:
            self._change(run, item, Status.RELEASED, exc)
            raise exc
        for address in decision.suppress:
            self.outbox.suppress(address, SuppressionReason.HARD_BOUNCE, str(exc))
        if decision.pause_seconds is not None:
            limiter.pause_for(decision.pause_seconds)
        if decision.stop_account:
            self._account_down(run, name, limiter, exc)
        self._change(run, item, decision.status, exc, next_attempt_at=decision.next_attempt_at)

    def _mark_sent(self, run: _Run, item: OutboxItem, receipt: SendReceipt) -> DispatchEvent:
        """Record that ``item`` was sent; return the event to announce once it is committed."""
        self._suppress_refused(receipt)
        return self._sent(run, item, self.outbox.mark_sent(item.id, receipt))

    def _sent(self, run: _Run, item: OutboxItem, updated: OutboxItem) -> DispatchEvent:
        """Count a recorded send; return its event."""
        self._count(run, updated.status)
        return DispatchEvent(
            item.id, item.key, Status.SENDING, updated.status, updated.attempts[-1].reason, item.transport
        )

    def _suppress_refused(self, receipt: SendReceipt) -> None:
        """Block the recipients a server refused for good (5xx), when the retry policy says so."""
        if self.retry.suppress_refused:
            for refused in receipt.refused:
                if 500 <= refused.code < 600:
                    self.outbox.suppress(
                        refused.address, SuppressionReason.HARD_BOUNCE, f"{refused.code} {refused.text}"
                    )

    def _change(
        self,
        run: _Run,
        item: OutboxItem,
        new: Status,
        error: BaseException | str,
        *,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record the end of a claimed item that was not sent: RELEASED, DEFERRED, FAILED or PAPER."""
        transport = item.transport
        if new is Status.DEFERRED and next_attempt_at is not None:
            updated = self.outbox.mark_deferred(
                item.id, error, next_attempt_at=next_attempt_at, transport=transport
            )
        elif new is Status.PAPER:
            updated = self.outbox.mark_paper(item.id, error, transport=transport)
        elif new is Status.FAILED:
            updated = self.outbox.mark_failed(item.id, error, transport=transport)
        else:  # given back untried: the account is paused, stopped, or the run stops
            updated = self.outbox.unclaim(
                item.id, error=error, not_before=next_attempt_at, transport=transport
            )
        self._count(run, updated.status)
        if updated.status in (Status.FAILED, Status.PAPER):
            with run.lock:
                run.failures.append(DispatchFailure(item.id, item.key, updated.status, updated.reason))
        self._emit(
            DispatchEvent(item.id, item.key, Status.SENDING, updated.status, updated.reason, transport)
        )

    def _count(self, run: _Run, status: Status) -> None:
        with run.lock:
            run.counts[status] += 1

    def _emit(self, event: DispatchEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a host's hook must not stop sending
            logger.warning("on_event hook failed for item %s", event.item_id, exc_info=True)


class _Unrecorded:
    """Sends not recorded yet; recorded together, at the latest ``max_age`` seconds after the first.

    Recording several sends in one outbox transaction saves a commit (and with
    a durable outbox a flush to disk) per message. The dispatcher records them
    before any wait, before an error is recorded, at the end of each chunk, and
    once the oldest is ``max_age`` old, so progress events stay timely.
    """

    __slots__ = ("_monotonic", "_since", "items", "max_age")

    def __init__(self, monotonic: Callable[[], float], *, max_age: float = 0.2) -> None:
        self._monotonic = monotonic
        self._since = 0.0
        self.items: list[tuple[OutboxItem, SendReceipt]] = []
        self.max_age = max_age

    def add(self, item: OutboxItem, receipt: SendReceipt) -> None:
        """Keep ``item``'s send to record later."""
        if not self.items:
            self._since = self._monotonic()
        self.items.append((item, receipt))

    def due(self) -> bool:
        """Whether the oldest send has waited ``max_age`` seconds."""
        return bool(self.items) and self._monotonic() - self._since >= self.max_age
