"""Sending rates ("1 per 60 s", "30/minute", "10000 recipients/day") and a limiter.

A :class:`RateLimiter` enforces several rates at once with a sliding window
per rate: never more than ``count`` messages (or recipients) in *any* window of
``seconds``. That is stricter than a plain token bucket, which lets up to twice
the count through across a refill boundary, and it is what a provider that
counts "30 a minute" or "10,000 recipients a day" checks.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from mailbill.errors import ConfigurationError

__all__ = ["Rate", "RateLimiter", "RateUnit"]

_UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip

_PATTERN = re.compile(
    r"""^\s*(?P<count>\d+)\s*(?P<what>messages?|mails?|recipients?)?\s*
        (?:/|per)\s*(?P<amount>\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]+)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


class RateUnit(StrEnum):
    """What a rate counts."""

    MESSAGE = "message"
    RECIPIENT = "recipient"


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` messages (or recipients) in any ``seconds``.

    Example:
        >>> Rate.parse("30/minute")
        Rate(count=30, seconds=60.0, unit=<RateUnit.MESSAGE: 'message'>)
        >>> Rate.parse("10000 recipients per day").unit.value
        'recipient'

    Attributes:
        count: How many in one window.
        seconds: The window's length.
        unit: Whether it counts messages or recipients.
    """

    count: int
    seconds: float
    unit: RateUnit = RateUnit.MESSAGE

    def __post_init__(self) -> None:
        if self.count < 1 or not self.seconds > 0:
            raise ConfigurationError(
                f"a rate needs a count >= 1 and seconds > 0, got {self.count}/{self.seconds}"
            )
        object.__setattr__(self, "seconds", float(self.seconds))
        object.__setattr__(self, "unit", RateUnit(self.unit))

    @classmethod
    def parse(cls, text: str | Rate, /) -> Rate:
        """Read ``"1 per 60 s"``, ``"30/minute"``, ``"10000/day"``, ``"1/60s"`` or ``"500 recipients/hour"``.

        Raises:
            ConfigurationError: the text is not a rate (the message shows the forms understood).
        """
        if isinstance(text, Rate):
            return text
        match = _PATTERN.match(text)
        unit = match and _UNITS.get(match["unit"].lower())
        if match is None or unit is None:
            raise ConfigurationError(
                f"{text!r} is not a rate; write e.g. '1 per 60 s', '30/minute', '10000 recipients/day'"
            )
        what = (match["what"] or "message").lower()
        return cls(
            int(match["count"]),
            float(match["amount"] or 1) * unit,
            RateUnit.RECIPIENT if what.startswith("recipient") else RateUnit.MESSAGE,
        )

    def __str__(self) -> str:
        return f"{self.count} {self.unit.value}s per {self.seconds:g} s"


class RateLimiter:
    """Wait until every rate allows one more message, then count it.

    Thread-safe: parallel senders of one account share one limiter. Time comes
    from ``clock`` (monotonic seconds) and waiting goes through ``sleep``, so
    tests pass a :class:`~mailbill.testing.FakeClock` and never wait.

    Args:
        rates: The rates to keep, as :class:`Rate` values or text.
        clock: Monotonic seconds.
        sleep: Waits a number of seconds.
    """

    def __init__(
        self,
        rates: Iterable[Rate | str] = (),
        /,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = tuple(Rate.parse(r) for r in rates)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: list[deque[tuple[float, int]]] = [deque() for _ in self.rates]
        self._paused_until = 0.0

    def __repr__(self) -> str:
        return f"<RateLimiter rates={[str(r) for r in self.rates]}>"

    def _wait_locked(self, recipients: int, now: float) -> float:
        wait = max(0.0, self._paused_until - now)
        for rate, window in zip(self.rates, self._windows, strict=True):
            while window and window[0][0] <= now - rate.seconds:
                window.popleft()
            need = min(recipients if rate.unit is RateUnit.RECIPIENT else 1, rate.count)
            used = sum(n for _, n in window)
            # the oldest entries must leave the window until `need` more fit
            for at, n in window:
                if used + need <= rate.count:
                    break
                used -= n
                wait = max(wait, at + rate.seconds - now)
        return wait

    def wait_time(self, recipients: int = 1) -> float:
        """Seconds until a message to ``recipients`` recipients may go (0: now)."""
        with self._lock:
            return self._wait_locked(recipients, self._clock())

    def try_acquire(self, recipients: int = 1) -> bool:
        """Count one message now if every rate allows it; never waits."""
        with self._lock:
            now = self._clock()
            if self._wait_locked(recipients, now) > 0:
                return False
            self._record(recipients, now)
            return True

    def acquire(self, recipients: int = 1) -> float:
        """Wait until a message to ``recipients`` recipients may go, count it, return the wait.

        A message with more recipients than a per-recipient rate's count waits
        for an empty window and then goes (it could never go otherwise).
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_locked(recipients, now)
                if wait <= 0:
                    self._record(recipients, now)
                    return waited
            self._sleep(wait)
            waited += wait

    def _record(self, recipients: int, now: float) -> None:
        for rate, window in zip(self.rates, self._windows, strict=True):
            window.append((now, recipients if rate.unit is RateUnit.RECIPIENT else 1))

    def pause_until(self, until: float) -> None:
        """Send nothing before monotonic time ``until`` (a server said "slow down")."""
        with self._lock:
            self._paused_until = max(self._paused_until, until)

    def pause_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now."""
        self.pause_until(self._clock() + seconds)

    @property
    def paused_until(self) -> float:
        """The monotonic time before which nothing is sent (0 when never paused)."""
        with self._lock:
            return self._paused_until
