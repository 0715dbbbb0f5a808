"""The fault test: a batch of 1,000 through a loopback SMTP server that misbehaves.

The server answers 421 and then 451 for a while, refuses some recipients with
550 and drops some connections. The dispatcher and the server share one
FakeClock, so the rate limit is checked exactly on the server's receive times
and the test never waits for backoff or rate limits.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from helpers import released
from loopback import DROP, LoopbackServer, LoopbackTransport

from mailbill import Dispatcher, RetryPolicy, SQLiteOutbox, Status
from mailbill.testing import FakeClock

N = 1000
PER_SECOND = 25


@pytest.mark.slow
def test_a_batch_of_1000_survives_a_misbehaving_server(tmp_path: Path) -> None:
    """This test ensures that each deliverable mail is sent once, refused ones are PAPER, the rate holds."""
    clock = FakeClock()
    drops = random.Random(7)
    refused = frozenset(f"customer{n}@example.org" for n in range(3, N, 97))

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
        SQLiteOutbox(tmp_path / "outbox.sqlite3", clock=clock.now, durable=False) as outbox,
    ):
        items = outbox.add_many([released(n) for n in range(N)])
        dispatcher = Dispatcher(
            outbox,
            LoopbackTransport(server.port, name="default"),
            rates=[f"{PER_SECOND} per 1 s"],
            retry=policy,
            clock=clock.now,
            monotonic=clock,
            sleep=clock.sleep,
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
            a.error_message and "connection lost" in a.error_message
            for i in outbox.find()
            for a in i.attempts
        )
        # the rate was never exceeded, and was reached
        in_window = [sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times)]
        assert max(in_window) <= PER_SECOND
        assert max(in_window) == PER_SECOND
        assert outbox.suppression.is_blocked(next(iter(refused))) is not None
