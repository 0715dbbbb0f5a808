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
from fault import LimiterFactory, run_fault_scenario
from helpers import released
from test_postgres_workers import message_ids, start_worker

from mailbill import (
    Outbox,
    PostgresOutbox,
    PostgresRateLimiter,
    Rate,
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


@pytest.mark.slow
def test_a_batch_survives_a_misbehaving_server(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that deliverable mail is sent once, refused mail is PAPER, the shared rate holds."""

    def shared(outbox: Outbox, clock: FakeClock) -> LimiterFactory:
        assert isinstance(outbox, PostgresOutbox)

        def make(account: str, rates: Sequence[Rate | str]) -> PostgresRateLimiter:
            return PostgresRateLimiter(outbox, account, rates, clock=clock, sleep=clock.sleep)

        return make

    run_fault_scenario(
        lambda clock: PostgresOutbox(pg_dsn, schema=pg_schema, clock=clock.now), limiter_factory=shared
    )
