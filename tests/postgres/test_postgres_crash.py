"""Crash and fault tests of the outbox issue, on PostgreSQL.

Crash: a worker process sending to a loopback SMTP server is SIGKILLed at
random moments, 20 times; each new one recovers (items in doubt become
UNCERTAIN) and goes on. Fault: a batch through a server that answers 421/451,
refuses some recipients and drops connections, with the shared limiter on a
fake clock.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Sequence

import pytest
from helpers import released
from loopback import DROP, LoopbackServer
from test_postgres_workers import message_ids, start_worker

from mailbill import (
    Dispatcher,
    PostgresOutbox,
    PostgresRateLimiter,
    Rate,
    RetryPolicy,
    SMTPTransport,
    Status,
)
from mailbill.testing import FakeClock
from smtp_server import SMTPServer

pytestmark = pytest.mark.postgres

N = 300
KILLS = 20


@pytest.mark.slow
def test_killed_workers_never_lose_or_double_send(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that SIGKILL at random moments loses nothing and never sends a SENT item twice."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        items = outbox.add_many([released(n) for n in range(N)])
    with SMTPServer() as server:
        kills = 0
        for _ in range(KILLS):
            child = start_worker(pg_dsn, pg_schema, server.port, "1 per 0.004 s", "crash")
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.15))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.wait(timeout=30)
            child.stdout.close()
        final = start_worker(pg_dsn, pg_schema, server.port, "1 per 0.004 s", "crash")
        out, _ = final.communicate(timeout=60)
        assert final.returncode == 0, out
        received = Counter(message_ids(server))

    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        counts = outbox.counts()
        statuses = {item.id: outbox.get(item.id).status for item in items}
    context = f"seed={seed} kills={kills} counts={counts}"
    assert kills >= KILLS // 2, context  # most runs were killed while working
    assert set(statuses.values()) <= {Status.SENT, Status.UNCERTAIN}, context  # nothing lost or stuck
    assert counts[Status.UNCERTAIN] <= kills, context  # at most the one in flight per kill
    for item in items:
        if statuses[item.id] is Status.SENT:
            assert received[item.message_id] == 1, context
        else:
            assert received[item.message_id] <= 1, context
    assert set(received) <= {item.message_id for item in items}, context
    assert counts[Status.SENT] >= N - kills, context


FAULT_N = 1000
PER_SECOND = 25


@pytest.mark.slow
def test_a_batch_survives_a_misbehaving_server(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that deliverable mail is sent once, refused mail is PAPER, the shared rate holds."""
    clock = FakeClock()
    drops = random.Random(7)
    refused = frozenset(f"customer{n}@example.org" for n in range(3, FAULT_N, 97))

    def on_mail(t: float) -> str | None:
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
        LoopbackServer(clock=clock, refuse=refused, on_mail=on_mail, on_data=on_data) as server,
        PostgresOutbox(pg_dsn, schema=pg_schema, clock=clock.now) as outbox,
    ):

        def shared(account: str, rates: Sequence[Rate | str]) -> PostgresRateLimiter:
            return PostgresRateLimiter(outbox, account, rates, clock=clock, sleep=clock.sleep)

        items = outbox.add_many([released(n) for n in range(FAULT_N)])
        dispatcher = Dispatcher(
            outbox,
            SMTPTransport("127.0.0.1", port=server.port, security="none", name="default"),
            rates=[f"{PER_SECOND} per 1 s"],
            retry=policy,
            clock=clock.now,
            monotonic=clock,
            sleep=clock.sleep,
            limiter_factory=shared,
        )
        for _ in range(500):
            dispatcher.run_once()
            if not outbox.pending():
                break
            clock.advance(1)  # the next poll
        counts = outbox.counts()
        received = Counter(r.message_id for r in server.received)
        times = sorted(r.at for r in server.received)

        assert counts[Status.SENT] == FAULT_N - len(refused)
        assert counts[Status.PAPER] == len(refused)
        assert sum(counts.values()) == FAULT_N
        for item in items:
            stored = outbox.get(item.id)
            if item.recipients[0] in refused:
                assert stored.status is Status.PAPER
                assert stored.reason.startswith("550")
                assert item.message_id not in received
            else:
                assert received[item.message_id] == 1, stored
        reasons = Counter(a.smtp_code for i in outbox.find() for a in i.attempts)
        assert reasons[421] > 0
        assert reasons[451] > 0
        # the rate was never exceeded, and was reached (exactly: server and limiter share the fake clock)
        in_window = [sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times)]
        assert max(in_window) == PER_SECOND
