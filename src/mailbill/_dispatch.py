"""The dispatcher: send what is due from an outbox, at a safe rate, and record every outcome."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from datetime import timedelta
from types import FrameType
from typing import Any

from mailbill._dispatch_record import _Recording, _Unrecorded
from mailbill._dispatch_report import DispatchEvent, DispatchFailure, DispatchReport, _Run
from mailbill._models import OutgoingMessage
from mailbill._ratelimit import Rate, RateLimiter
from mailbill._rebuild import message_from_item
from mailbill._retry import RetryPolicy
from mailbill.errors import ConfigurationError
from mailbill.outbox._model import OutboxItem, RecoveryPolicy, Status
from mailbill.outbox.base import Clock, Outbox, utc_now
from mailbill.transports.base import BaseTransport

__all__ = ["DispatchEvent", "DispatchFailure", "DispatchReport", "Dispatcher"]

logger = logging.getLogger(__name__)

#: How often a connection with nothing to send looks again while another
#: connection of its account is still sending.
_IDLE_POLL_SECONDS = 0.01

#: A transport, or a function making one (needed for ``parallel`` > 1).
TransportSource = BaseTransport | Callable[[], BaseTransport]


class Dispatcher(_Recording):
    """Send due items from an outbox through transports, within rate limits.

    Example:
        >>> dispatcher = Dispatcher(outbox, transport, rates=["1 per 20 s"])  # doctest: +SKIP
        >>> report = dispatcher.run_once()  # doctest: +SKIP

    Args:
        outbox: Where the items are.
        transports: One transport (for items of every transport name) or a mapping
            from account name to a transport, or to a function making one.
        rates: Rates per account (a mapping) or for every account (a sequence).
        retry: What to do after errors.
        lease_seconds: How long a claimed item is held before recovery may take it back.
        batch_size: Items claimed at once when an account has no rate limit.
        parallel: Connections per account (needs a transport *factory*); they share
            the account's limiter.
        recovery: What recovery does with expired leases at the start of each run.
        clock: "Now" for the outbox (aware UTC).
        monotonic: Seconds for the rate limiters.
        sleep: Waits for the rate limiters (inject a fake one in tests).
        on_event: Called with every :class:`DispatchEvent`; its errors are logged, not raised.
        limiter_factory: Makes each account's limiter from ``(account, rates)``
            instead of an in-process :class:`RateLimiter`; e.g.
            ``PostgresOutbox.rate_limiter`` for limits shared by every worker.

    Successful sends that follow one another are recorded together, in one
    :meth:`Outbox.transaction <mailbill.Outbox.transaction>` (one commit instead
    of one a message): at the latest 0.2 seconds after the first of them, and
    always before the dispatcher waits for a rate limit, records a failure or
    claims more. Their ``on_event`` calls follow the commit.

    When the outbox has a ``wait_for_work(timeout, stop=event)`` method
    (:class:`~mailbill.PostgresOutbox`), ``run_forever`` sleeps in it, so
    released items wake the worker at once; polling stays as the safety net.

    Threads: with one transport and ``parallel=1`` a run works on the calling
    thread; otherwise each account's connection gets a worker thread of its own
    for the run. Each worker opens its transport, uses it only on that thread,
    and closes it at the end of the run, so a transport bound to one thread
    (Outlook's COM objects) stays on it. ``on_event`` may be called from
    worker threads.
    """

    def __init__(
        self,
        outbox: Outbox,
        transports: Mapping[str, TransportSource] | BaseTransport,
        /,
        *,
        rates: Mapping[str, Sequence[Rate | str]] | Sequence[Rate | str] = (),
        retry: RetryPolicy | None = None,
        lease_seconds: float = 300.0,
        batch_size: int = 20,
        parallel: int = 1,
        recovery: RecoveryPolicy = RecoveryPolicy.UNCERTAIN,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[DispatchEvent], None] | None = None,
        limiter_factory: Callable[[str, Sequence[Rate | str]], RateLimiter] | None = None,
    ) -> None:
        if isinstance(transports, BaseTransport):
            self._sources: dict[str, TransportSource] = {}
            self._default: BaseTransport | None = transports
        else:
            self._sources = dict(transports)
            self._default = None
            if not self._sources:
                raise ConfigurationError("Dispatcher needs at least one transport")
        if parallel < 1 or batch_size < 1 or lease_seconds <= 0:
            raise ConfigurationError("Dispatcher needs parallel >= 1, batch_size >= 1 and lease_seconds > 0")
        self.outbox = outbox
        self.retry = retry or RetryPolicy()
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.parallel = parallel
        self.recovery = recovery
        self._clock = clock
        self._sleep_fn = sleep
        self._on_event = on_event
        self._stop = threading.Event()
        if isinstance(rates, Mapping):
            self._rates: dict[str, tuple[Rate, ...]] | tuple[Rate, ...] = {
                account: tuple(Rate.parse(r) for r in account_rates)
                for account, account_rates in rates.items()
            }
            unknown = sorted(set(rates) - set(self._sources)) if self._default is None else []
            if unknown:
                raise ConfigurationError(f"rates name accounts without a transport: {', '.join(unknown)}")
        else:
            self._rates = tuple(Rate.parse(r) for r in rates)
        self._monotonic = monotonic
        self._limiters: dict[str, RateLimiter] = {}
        self._limiter_factory = limiter_factory
        self._limiters_lock = threading.Lock()
        self._forever: threading.Event | None = None

    def __repr__(self) -> str:
        return f"<Dispatcher accounts={self._accounts()!r}>"

    # -- configuration -----------------------------------------------------------

    def _accounts(self) -> list[str] | None:
        """The transport names this dispatcher serves; ``None``: every one (single transport)."""
        return None if self._default is not None else list(self._sources)

    def limiter(self, account: str, /) -> RateLimiter:
        """The rate limiter of one account (created on first use)."""
        with self._limiters_lock:
            if account not in self._limiters:
                rates = self._rates.get(account, ()) if isinstance(self._rates, dict) else self._rates
                self._limiters[account] = (
                    self._limiter_factory(account, rates)
                    if self._limiter_factory is not None
                    else RateLimiter(rates, clock=self._monotonic, sleep=self._sleep)
                )
            return self._limiters[account]

    def _make_transport(self, account: str) -> BaseTransport:
        if self._default is not None:
            return self._default
        source = self._sources[account]
        return source if isinstance(source, BaseTransport) else source()

    def _sleep(self, seconds: float) -> None:
        if self._sleep_fn is time.sleep:
            self._stop.wait(seconds)  # a stop request ends the wait
        else:
            self._sleep_fn(seconds)

    # -- running -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running ``run_once`` or ``run_forever`` to stop after the current message."""
        self._stop.set()
        if self._forever is not None:
            self._forever.set()

    def recover(self, *, include_unexpired: bool = False) -> int:
        """Take back items of dead workers now (see :meth:`Outbox.recover`); returns how many.

        Call with ``include_unexpired=True`` at start-up when this is the only dispatcher.
        """
        recovered = self.outbox.recover(policy=self.recovery, include_unexpired=include_unexpired)
        for item in recovered:
            self._emit(
                DispatchEvent(item.id, item.key, Status.SENDING, item.status, item.reason, item.transport)
            )
        return len(recovered)

    def run_once(self) -> DispatchReport:
        """Send everything that is due now, within the rate limits, and report.

        Waits (through ``sleep``) for rate limits; returns when nothing is due,
        every account stopped or used up its rate for longer than half a lease,
        or :meth:`stop` was called.

        Raises:
            ConfigurationError: the setup is wrong (the item concerned stays released).
        """
        if self._forever is None:
            self._stop.clear()
        recovered = self.recover()
        run = _Run()
        accounts = self._accounts()
        names = accounts if accounts is not None else [None]
        threads = []
        for account in names:
            workers = (
                self.parallel
                if account is not None and not isinstance(self._sources[account], BaseTransport)
                else 1
            )
            for _ in range(workers):
                threads.append(threading.Thread(target=self._worker, args=(account, run), daemon=True))
        if len(threads) == 1:
            threads[0].run()
        else:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if run.error is not None:
            raise run.error
        return DispatchReport(dict(run.counts), tuple(run.failures), dict(run.stopped), recovered)

    def run_forever(
        self,
        *,
        poll_interval: float = 30.0,
        stop: threading.Event | None = None,
        handle_signals: bool = False,
    ) -> None:
        """Run :meth:`run_once` every ``poll_interval`` seconds until stopped.

        Args:
            poll_interval: Seconds between runs.
            stop: Set it (from any thread) to stop cleanly; :meth:`stop` works too.
            handle_signals: Install SIGINT and SIGTERM handlers that stop cleanly
                (main thread only); the previous handlers are restored at the end.
        """
        event = stop or threading.Event()
        previous: dict[signal.Signals, Any] = {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            logger.info("signal %s: stopping after the current message", signum)
            event.set()
            self._stop.set()

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        self._stop.clear()
        self._forever = event

        def watch() -> None:
            event.wait()
            self._stop.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            while not event.is_set():
                report = self.run_once()
                logger.info("dispatch run: %s", {s.value: n for s, n in report.counts.items()})
                # an outbox that can be woken (LISTEN/NOTIFY) is waited on; others are polled
                wait_for_work = getattr(self.outbox, "wait_for_work", None)
                if wait_for_work is not None:
                    wait_for_work(poll_interval, stop=event)
                    if event.is_set():
                        break
                elif event.wait(poll_interval):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            event.set()
            watcher.join()
            self._forever = None

    # -- one worker: one connection of one account ---------------------------------------------

    def _worker(self, account: str | None, run: _Run) -> None:
        transport: BaseTransport | None = None
        name = account or (self._default.name if self._default else "")
        limiter = self.limiter(name)
        try:
            while not self._stop.is_set() and run.error is None:
                with run.lock:
                    if name in run.stopped:
                        return
                size = 1 if limiter.rates else self.batch_size
                wait = limiter.wait_time(1)
                if wait > self.lease_seconds / 2:
                    return  # the account's limit is used up for a long while: end this run
                if wait > 0:
                    self._sleep(wait)
                    continue
                # Claiming and counting together: a worker that finds nothing
                # knows whether any sibling holds items it claimed earlier.
                with run.claiming:
                    items = self.outbox.claim(
                        size,
                        lease_seconds=self.lease_seconds,
                        transports=None if account is None else [account],
                    )
                    siblings_busy = run.busy[name] > 0
                    if items:
                        run.busy[name] += 1
                if not items:
                    if siblings_busy and not self._stopping(run, name):
                        # Items the host adds while a sibling sends (a dispatcher
                        # beside a host that is still adding) get this connection too.
                        self._stop.wait(_IDLE_POLL_SECONDS)
                        continue
                    return
                try:
                    if transport is None:
                        self._sending(run, items[0])
                        if self._stopping(run, name):
                            self._give_back(run, items, "stopped")
                            return
                        try:
                            transport = self._make_transport(name)
                            transport.open()
                        except Exception as exc:  # nothing was sent: give the items back
                            self._give_back(run, items, exc)
                            self._account_down(run, name, limiter, exc)
                            transport = None
                            if isinstance(exc, ConfigurationError):
                                raise
                            return
                        announced = 1
                    else:
                        announced = 0
                    if not self._send_chunk(run, items, transport, limiter, name, announced=announced):
                        return
                finally:
                    with run.claiming:
                        run.busy[name] -= 1
        except BaseException as exc:
            with run.lock:
                run.error = run.error or exc
        finally:
            if transport is not None:
                try:
                    transport.close()
                except Exception:  # closing must not hide what happened
                    logger.warning("closing transport %s failed", name, exc_info=True)

    def _send_chunk(
        self,
        run: _Run,
        items: list[OutboxItem],
        transport: BaseTransport,
        limiter: RateLimiter,
        name: str,
        *,
        announced: int,
    ) -> bool:
        """Send claimed items through ``transport.send_many``; return ``False`` when the run must stop.

        The messages are built lazily, one at a time, as the transport asks for
        them, so a transport that overlaps messages (SMTP with PIPELINING) has
        the next one built while the server answers the previous one. A
        failure is recorded as it arrives; successes are recorded together
        (see ``_Unrecorded``), and always before this returns or raises. When
        a result pauses or stops the account (or the run is asked to stop),
        the iteration ends there: the items the transport took without a
        result yet (none of their content was sent) and those it did not take
        go back to RELEASED.
        """
        in_flight: list[OutboxItem] = []
        taken = 0  # items[:taken] went through messages()
        # One question for the chunk's recipients, not one for each of them.
        blocked = self.outbox.suppressed_among(r for item in items for r in item.recipients)
        sent = _Unrecorded(self._monotonic)

        def record_sent() -> None:
            self._flush(run, sent)

        def messages() -> Iterator[OutgoingMessage]:
            nonlocal taken
            for n, item in enumerate(items):
                if n >= announced:
                    self._sending(run, item)
                if self._stopping(run, name):
                    return
                taken = n + 1
                message = self._ready(run, item, transport, limiter, blocked, before_wait=record_sent)
                if message is not None:
                    in_flight.append(item)
                    yield message

        results = transport.send_many(messages())
        try:
            for result in results:
                item = in_flight.pop(0)
                if result.error is None:
                    assert result.receipt is not None
                    sent.add(item, result.receipt)
                    if sent.due():
                        self._flush(run, sent)
                else:
                    self._flush(run, sent)
                    self._record_error(run, item, result.error, limiter, name)
                if self._stopping(run, name) or limiter.wait_time(1) > 0:
                    break
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
            self._flush(run, sent)
        stopping = self._stopping(run, name)
        self._give_back(run, [*in_flight, *items[taken:]], "stopped" if stopping else "account paused")
        return not stopping

    def _stopping(self, run: _Run, name: str) -> bool:
        return self._stop.is_set() or run.error is not None or name in run.stopped

    def _ready(
        self,
        run: _Run,
        item: OutboxItem,
        transport: BaseTransport,
        limiter: RateLimiter,
        suppressed: Container[str],
        *,
        before_wait: Callable[[], None],
    ) -> OutgoingMessage | None:
        """The message to send for ``item``, once the rate limit allows; ``None`` when it ended here.

        ``suppressed`` holds the blocked ones of the chunk's recipients.
        ``before_wait`` runs before any wait for the rate limit (what was sent is
        recorded before the dispatcher sleeps).
        """
        blocked = [r for r in item.recipients if r in suppressed]
        allowed = [r for r in item.recipients if r not in suppressed]
        if not allowed:
            self._change(run, item, Status.PAPER, f"blocked address: {', '.join(blocked)}")
            return None
        try:
            # a byte transport sends the stored bytes: read back the headers only
            bodies = not transport.capabilities.preserves_bytes
            message = message_from_item(item, recipients=allowed, bodies=bodies)
        except Exception as exc:  # one item that cannot be built is recorded; the run goes on
            self._change(run, item, Status.FAILED, exc)
            return None
        recipients = len(message.recipients)
        while (wait := limiter.wait_time(recipients)) > 0:
            if self._stop.is_set():
                self._change(run, item, Status.RELEASED, "stopped")
                return None
            if wait > self.lease_seconds / 2:
                # a per-recipient limit is used up: do not hold the item past its lease
                later = self._clock() + timedelta(seconds=wait)
                self._change(run, item, Status.RELEASED, "rate limit reached", next_attempt_at=later)
                return None
            before_wait()
            self._sleep(wait)
        if not limiter.try_acquire(recipients):
            limiter.acquire(recipients)  # another worker of the account took the slot
        return message
