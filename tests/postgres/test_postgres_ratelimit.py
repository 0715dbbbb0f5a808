"""The shared rate limit: limiters of different workers on one database count together."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbill import PostgresOutbox, PostgresRateLimiter, RateLimiter
from mailbill.testing import FakeClock

pytestmark = pytest.mark.postgres


@pytest.fixture
def outbox(pg_dsn: str, pg_schema: str) -> Iterator[PostgresOutbox]:
    with PostgresOutbox(pg_dsn, schema=pg_schema) as ob:
        yield ob


def test_two_workers_share_one_window(outbox: PostgresOutbox) -> None:
    """This test ensures that sends counted by one worker's limiter hold back another worker's."""
    clock = FakeClock()
    a = PostgresRateLimiter(outbox, "m365", ["3 per 10 s"], clock=clock, sleep=clock.sleep)
    b = PostgresRateLimiter(outbox, "m365", ["3 per 10 s"], clock=clock, sleep=clock.sleep)
    other = PostgresRateLimiter(outbox, "relay", ["3 per 10 s"], clock=clock, sleep=clock.sleep)
    assert a.try_acquire()
    clock.advance(1)
    assert a.try_acquire()
    assert b.try_acquire()
    assert not b.try_acquire()
    assert not a.try_acquire()
    assert b.wait_time() == pytest.approx(9)
    assert other.try_acquire()  # another account has its own window
    assert a.acquire() == pytest.approx(9)  # waits on the fake clock, never for real
    assert clock.sleeps == [pytest.approx(9)]
    assert not b.try_acquire()


def test_a_pause_holds_every_worker(outbox: PostgresOutbox) -> None:
    """This test ensures that a server's "slow down" seen by one worker pauses the account for all."""
    clock = FakeClock()
    a = PostgresRateLimiter(outbox, "m365", ["30/minute"], clock=clock, sleep=clock.sleep)
    b = PostgresRateLimiter(outbox, "m365", ["30/minute"], clock=clock, sleep=clock.sleep)
    a.pause_for(120)
    assert b.paused_until == pytest.approx(120)
    assert b.wait_time() == pytest.approx(120)
    assert not b.try_acquire()
    a.pause_until(60)  # an earlier pause never shortens a longer one
    assert b.paused_until == pytest.approx(120)
    clock.advance(120)
    assert b.try_acquire()


def test_recipient_rates_count_recipients(outbox: PostgresOutbox) -> None:
    """This test ensures that a per-recipient rate counts each message's recipients."""
    clock = FakeClock()
    a = PostgresRateLimiter(outbox, "m365", ["5 recipients/minute"], clock=clock, sleep=clock.sleep)
    assert a.try_acquire(3)
    assert not a.try_acquire(3)
    assert a.try_acquire(2)
    assert a.wait_time(1) == pytest.approx(60)


def test_the_database_clock_is_the_default(outbox: PostgresOutbox) -> None:
    """This test ensures that without a clock the limiter uses the server's time, shared by all machines."""
    limiter = outbox.rate_limiter("smtp", ["2 per hour"])
    assert limiter.try_acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    assert 3500 < limiter.wait_time() <= 3600
    assert "2 messages per 3600 s" in repr(limiter)


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("try"), st.integers(1, 4)),
        st.tuples(st.just("advance"), st.floats(0, 30, allow_nan=False)),
    ),
    max_size=25,
)


# new_schema is a factory: each example makes its own schema
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_it_decides_like_the_in_process_limiter(
    pg_dsn: str, new_schema: Callable[[], str], ops: list[tuple[str, float]]
) -> None:
    """This test ensures that the shared limiter allows exactly what RateLimiter allows, step by step."""
    rates = ["3 per 10 s", "8 recipients per 60 s"]
    clock = FakeClock()
    local = RateLimiter(rates, clock=clock, sleep=clock.sleep)
    with PostgresOutbox(pg_dsn, schema=new_schema()) as outbox:
        shared = PostgresRateLimiter(outbox, "acct", rates, clock=clock, sleep=clock.sleep)
        for op, value in ops:
            if op == "advance":
                clock.advance(value)
                continue
            assert shared.wait_time(int(value)) == pytest.approx(local.wait_time(int(value)))
            assert shared.try_acquire(int(value)) == local.try_acquire(int(value))
