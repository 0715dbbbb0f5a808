"""A rate limit shared by every worker on one PostgreSQL database.

:class:`PostgresRateLimiter` keeps the :class:`~mailbill.RateLimiter` rules (a
sliding window per rate: never more than ``count`` in *any* window of
``seconds``) but holds the log of sends in the outbox's database. Each check
locks the account's row in ``rate_accounts`` (``SELECT ... FOR UPDATE``), so
workers on any number of machines take turns, counts what the window holds and
records the send in the same transaction. Time is the database server's clock
by default, so machines whose clocks disagree still share one window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from mailbill._ratelimit import Rate, RateLimiter, RateUnit

if TYPE_CHECKING:
    from mailbill.outbox.postgres import PostgresOutbox

__all__ = ["PostgresRateLimiter"]


def window_wait(
    rates: Sequence[Rate], events: Sequence[tuple[float, int]], recipients: int, now: float
) -> float:
    """Seconds until one more message to ``recipients`` fits every rate, given past sends (oldest first)."""
    wait = 0.0
    for rate in rates:
        inside = [
            (at, n if rate.unit is RateUnit.RECIPIENT else 1) for at, n in events if at > now - rate.seconds
        ]
        need = min(recipients if rate.unit is RateUnit.RECIPIENT else 1, rate.count)
        used = sum(n for _, n in inside)
        # the oldest sends must leave the window until `need` more fit
        for at, n in inside:
            if used + need <= rate.count:
                break
            used -= n
            wait = max(wait, at + rate.seconds - now)
    return wait


class PostgresRateLimiter(RateLimiter):
    """One account's rates, enforced across every process that uses the same database.

    Use it where the Dispatcher would use a :class:`~mailbill.RateLimiter`
    (``Dispatcher(..., limiter_factory=outbox.rate_limiter)``); make one with
    :meth:`PostgresOutbox.rate_limiter`.

    Args:
        outbox: The outbox whose database and schema hold the shared log.
        account: The transport (account) name the rates belong to.
        rates: The rates, as :class:`~mailbill.Rate` values or text.
        clock: Seconds on a clock every worker shares; ``None`` (the default)
            asks the database server (``clock_timestamp()``).
        sleep: Waits a number of seconds.
    """

    def __init__(
        self,
        outbox: PostgresOutbox,
        account: str,
        rates: Iterable[Rate | str] = (),
        /,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(rates, clock=clock or self._db_now, sleep=sleep)
        self.account = account
        self._outbox = outbox
        self._own_clock = clock
        self._longest = max((r.seconds for r in self.rates), default=0.0)

    def __repr__(self) -> str:
        return f"<PostgresRateLimiter account={self.account!r} rates={[str(r) for r in self.rates]}>"

    # -- the database ----------------------------------------------------------------

    def _db_now(self) -> float:
        with self._outbox._db.tx() as conn:
            row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        assert row is not None
        return float(row[0])

    def _check(self, recipients: int, *, record: bool) -> float:
        """In one transaction: lock the account, compute the wait, record the send if it is 0."""
        q = self._outbox._db.q
        with self._outbox._db.tx() as conn:
            if record:
                # a lost log entry after a crash only lets one more mail through: no fsync wait
                conn.execute("SET LOCAL synchronous_commit = off")
                conn.execute(
                    q("INSERT INTO {s}.rate_accounts (account) VALUES (%s) ON CONFLICT (account) DO NOTHING"),
                    (self.account,),
                )
            # only a send that is counted takes the account's lock; a look at the wait does not
            row = conn.execute(
                q(
                    "SELECT paused_until, extract(epoch FROM clock_timestamp())::float8 "
                    "FROM {s}.rate_accounts WHERE account = %s"
                )
                if not record
                else q(
                    "SELECT paused_until, extract(epoch FROM clock_timestamp())::float8 "
                    "FROM {s}.rate_accounts WHERE account = %s FOR UPDATE"
                ),
                (self.account,),
            ).fetchone()
            paused_until = 0.0 if row is None else float(row[0])
            if row is None:
                row = conn.execute("SELECT 0, extract(epoch FROM clock_timestamp())::float8").fetchone()
                assert row is not None
            # the database's time is read after the lock, so sends are logged in order
            now = float(row[1]) if self._own_clock is None else self._own_clock()
            events: list[tuple[float, int]] = []
            if self.rates:
                events = [
                    (float(at), int(n))
                    for at, n in conn.execute(
                        q(
                            "SELECT at, recipients FROM {s}.rate_events "
                            "WHERE account = %s AND at > %s ORDER BY at"
                        ),
                        (self.account, now - self._longest),
                    )
                ]
            wait = max(paused_until - now, window_wait(self.rates, events, recipients, now))
            if wait <= 0 and record and self.rates:
                conn.execute(
                    q("INSERT INTO {s}.rate_events (account, at, recipients) VALUES (%s, %s, %s)"),
                    (self.account, now, recipients),
                )
                conn.execute(
                    q("DELETE FROM {s}.rate_events WHERE account = %s AND at <= %s"),
                    (self.account, now - self._longest),
                )
        return max(wait, 0.0)

    # -- the RateLimiter interface ---------------------------------------------------------

    def wait_time(self, recipients: int = 1) -> float:
        """Seconds until a message to ``recipients`` recipients may go, counting every worker."""
        return self._check(recipients, record=False)

    def try_acquire(self, recipients: int = 1) -> bool:
        """Count one message now if every rate allows it (for all workers together); never waits."""
        return self._check(recipients, record=True) <= 0

    def acquire(self, recipients: int = 1) -> float:
        """Wait until a message may go, count it, return the time waited."""
        waited = 0.0
        while (wait := self._check(recipients, record=True)) > 0:
            self._sleep(wait)
            waited += wait
        return waited

    def pause_until(self, until: float) -> None:
        """Send nothing, from any worker, before ``until`` (seconds on this limiter's clock)."""
        q = self._outbox._db.q
        with self._outbox._db.tx() as conn:
            conn.execute(
                q(
                    "INSERT INTO {s}.rate_accounts AS r (account, paused_until) VALUES (%s, %s) "
                    "ON CONFLICT (account) DO UPDATE "
                    "SET paused_until = greatest(r.paused_until, EXCLUDED.paused_until)"
                ),
                (self.account, until),
            )

    @property
    def paused_until(self) -> float:
        """The time (this limiter's clock) before which no worker sends on this account."""
        with self._outbox._db.tx() as conn:
            row = conn.execute(
                self._outbox._db.q("SELECT paused_until FROM {s}.rate_accounts WHERE account = %s"),
                (self.account,),
            ).fetchone()
        return 0.0 if row is None else float(row[0])
