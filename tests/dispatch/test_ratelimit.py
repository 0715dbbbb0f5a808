"""Rates and the rate limiter, on a fake clock (nothing here sleeps)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbill import ConfigurationError, Rate, RateLimiter, RateUnit
from mailbill.testing import FakeClock


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 per 60 s", Rate(1, 60)),
        ("30/minute", Rate(30, 60)),
        ("10000/day", Rate(10000, 86400)),
        ("1/60s", Rate(1, 60)),
        ("2 per 1.5 seconds", Rate(2, 1.5)),
        ("500 messages per hour", Rate(500, 3600)),
        ("10000 recipients/day", Rate(10000, 86400, RateUnit.RECIPIENT)),
        ("  5 / h ", Rate(5, 3600)),
    ],
)
def test_parse_reads_the_usual_forms(text: str, expected: Rate) -> None:
    """This test ensures that Rate.parse understands the forms a settings screen would hold."""
    assert Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "0/minute", "10 per fortnight", "1/0s", "-1/s"])
def test_parse_rejects_nonsense(text: str) -> None:
    """This test ensures that a bad rate is a ConfigurationError naming the forms understood."""
    with pytest.raises(ConfigurationError, match="rate"):
        Rate.parse(text)


def test_one_per_interval_spaces_messages() -> None:
    """This test ensures that '1 per 20 s' lets one message through every 20 s and no faster."""
    clock = FakeClock()
    limiter = RateLimiter(["1 per 20 s"], clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(4):
        limiter.acquire()
        times.append(clock())
    assert times == [0.0, 20.0, 40.0, 60.0]
    assert clock.sleeps == [20.0, 20.0, 20.0]


def test_several_rates_and_recipients_at_once() -> None:
    """This test ensures that message and recipient rates are kept together (Microsoft 365 style)."""
    clock = FakeClock()
    limiter = RateLimiter(["3/minute", "10 recipients/hour"], clock=clock, sleep=clock.sleep)
    assert limiter.try_acquire(4)
    assert limiter.try_acquire(4)
    assert not limiter.try_acquire(4)  # 12 recipients would exceed 10 an hour
    assert limiter.try_acquire(2)
    assert not limiter.try_acquire(1)  # a 4th message a minute, and no recipients left
    assert limiter.wait_time(1) == pytest.approx(3600.0)


def test_pause_honours_retry_after() -> None:
    """This test ensures that pause_for holds every message until the server's retry-after time."""
    clock = FakeClock()
    limiter = RateLimiter([], clock=clock, sleep=clock.sleep)
    limiter.pause_for(120)
    assert limiter.wait_time() == 120
    assert limiter.acquire() == 120
    assert clock() == 120


def test_a_message_larger_than_a_recipient_limit_waits_for_an_empty_window() -> None:
    """This test ensures that a message with more recipients than the limit still goes, alone."""
    clock = FakeClock()
    limiter = RateLimiter(["5 recipients/minute"], clock=clock, sleep=clock.sleep)
    limiter.acquire(1)
    assert limiter.acquire(8) == 60
    assert limiter.wait_time(1) == 60


@given(
    count=st.integers(1, 5),
    seconds=st.integers(1, 100),
    gaps=st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=40),
)
def test_no_window_ever_holds_more_than_the_count(count: int, seconds: int, gaps: list[float]) -> None:
    """This test ensures that, whatever the timing of requests, no window of the period exceeds the count."""
    clock = FakeClock()
    limiter = RateLimiter([Rate(count, seconds)], clock=clock, sleep=clock.sleep)
    sent = []
    for gap in gaps:
        clock.advance(gap)
        limiter.acquire()
        sent.append(clock())
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t < start + seconds]
        assert len(in_window) <= count
