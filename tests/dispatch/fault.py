"""The fault scenario shared by every outbox: 1,000 mails through a misbehaving SMTP server.

The server answers 421 and then 451 for a while, refuses some recipients with
550 and drops about 2 % of connections during DATA. The dispatcher, the rate
limiter and the server share one FakeClock, so the rate limit is checked exactly
on the server's receive times and nothing waits for backoff or limits.

With ``pipelining=True`` the server offers PIPELINING and there is no rate
limit, so the dispatcher sends whole claimed chunks through
``SMTPTransport.send_many``, each envelope written before the previous reply is read.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Sequence

from helpers import released
from loopback import DROP, LoopbackServer

from mailbill import Dispatcher, Outbox, Rate, RateLimiter, RetryPolicy, SMTPTransport, Status
from mailbill.testing import FakeClock

N = 1000
PER_SECOND = 25

LimiterFactory = Callable[[str, Sequence[Rate | str]], RateLimiter]


def run_fault_scenario(
    make_outbox: Callable[[FakeClock], Outbox],
    *,
    limiter_factory: Callable[[Outbox, FakeClock], LimiterFactory] | None = None,
    pipelining: bool = False,
) -> None:
    """Send N released items through the misbehaving server and check every promise.

    Args:
        make_outbox: Opens the (empty) outbox under test with the shared clock.
        limiter_factory: Makes the dispatcher's ``limiter_factory`` (a shared,
            database-backed limiter), or ``None`` for the in-process one.
    """
    clock = FakeClock()
    drops = random.Random(7)
    refused = frozenset(f"customer{n}@example.org" for n in range(3, N, 97))

    mails = itertools.count()

    def on_mail(t: float) -> str | None:
        if pipelining:  # unthrottled, everything is sent at once: the faults follow the count
            t = next(mails) / PER_SECOND
        if 5 <= t < 8:
            return "421 4.7.0 Too many messages, slow down"
        if 20 <= t < 26:
            return "451 4.3.0 Temporary local problem"
        return None

    def on_data(t: float) -> str | None:
        return DROP if drops.random() < 0.02 else None

    policy = RetryPolicy(
        max_attempts=50,
        backoff_base=1,
        backoff_max=20,
        jitter=0.5,
        suppress_refused=True,
        refused_to_paper=True,
        rate_limit_pause=2,
        rng=random.Random(3).random,
    )
    with (
        LoopbackServer(
            clock=clock, refuse=refused, on_mail=on_mail, on_data=on_data, pipelining=pipelining
        ) as server,
        make_outbox(clock) as outbox,
    ):
        items = outbox.add_many([released(n) for n in range(N)])
        dispatcher = Dispatcher(
            outbox,
            SMTPTransport("127.0.0.1", port=server.port, security="none", name="default", clock=clock),
            rates=[] if pipelining else [f"{PER_SECOND} per 1 s"],
            retry=policy,
            clock=clock.now,
            monotonic=clock,
            sleep=clock.sleep,
            limiter_factory=limiter_factory(outbox, clock) if limiter_factory else None,
        )
        for _ in range(500):
            dispatcher.run_once()
            if not outbox.pending():
                break
            clock.advance(1)  # the next poll
        counts = outbox.counts()
        received = Counter(r.message_id for r in server.received)
        times = sorted(r.at for r in server.received)

        # nothing pending, nothing lost
        assert counts[Status.SENT] == N - len(refused)
        assert counts[Status.PAPER] == len(refused)
        assert sum(counts.values()) == N
        # every deliverable message accepted exactly once, no refused one accepted
        for item in items:
            stored = outbox.get(item.id)
            if item.recipients[0] in refused:
                assert stored.status is Status.PAPER
                assert stored.reason.startswith("550")
                assert item.message_id not in received
            else:
                assert received[item.message_id] == 1, stored
        # the faults really happened
        reasons = Counter(a.smtp_code for i in outbox.find() for a in i.attempts)
        assert reasons[421] > 0
        assert reasons[451] > 0
        assert any(
            a.error_message
            and ("closed the connection" in a.error_message or "network error" in a.error_message)
            for i in outbox.find()
            for a in i.attempts
        )
        if pipelining:
            return
        # the rate was never exceeded, and was reached (exactly: one fake clock for all)
        in_window = [sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times)]
        assert max(in_window) == PER_SECOND
        assert outbox.suppression.is_blocked(next(iter(refused))) is not None
