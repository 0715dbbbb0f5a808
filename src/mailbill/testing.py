"""Test doubles a host application can use in its own tests.

- :class:`MemoryTransport` keeps what was sent in a list.
- :class:`ScriptedTransport` returns or raises what a test scripts, one step a message.
- :class:`FakeOutlook` stands in for Outlook's object model, for ``OutlookTransport``.
- :class:`FakeClock` is a clock and a ``sleep`` that only move when told to.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from mailbill._models import OutgoingMessage, SendReceipt
from mailbill._outlook_fake import FakeAccount, FakeComError, FakeMailItem, FakeOutlook
from mailbill.errors import ConfigurationError
from mailbill.transports.base import BaseTransport
from mailbill.transports.memory import MemoryTransport

__all__ = [
    "FakeAccount",
    "FakeClock",
    "FakeComError",
    "FakeMailItem",
    "FakeOutlook",
    "MemoryTransport",
    "ScriptedTransport",
    "Step",
]

#: One scripted step: an exception to raise, ``None`` to accept the message, a
#: receipt to return, or a function of the message returning a receipt (or raising).
Step = BaseException | SendReceipt | Callable[[OutgoingMessage], SendReceipt] | None


class ScriptedTransport(BaseTransport):
    """Answer each ``send`` with the next scripted step; accept when the script is used up.

    Example:
        >>> from mailbill import TransientDeliveryError
        >>> transport = ScriptedTransport([TransientDeliveryError("451 try later"), None])
        >>> # the first send raises, the second is accepted

    Attributes:
        sent: Every message that was accepted, in order.
        attempts: Every message ``send`` was called with, accepted or not.
    """

    def __init__(self, steps: Iterable[Step] = (), *, name: str = "scripted") -> None:
        self.name = name
        self._steps: deque[Step] = deque(steps)
        self._lock = threading.Lock()
        self.sent: list[OutgoingMessage] = []
        self.attempts: list[OutgoingMessage] = []

    def add(self, *steps: Step) -> None:
        """Append steps to the script."""
        with self._lock:
            self._steps.extend(steps)

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Play the next step for ``message``."""
        with self._lock:
            self.attempts.append(message)
            step = self._steps.popleft() if self._steps else None
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            receipt = step(message)
        elif isinstance(step, SendReceipt):
            receipt = step
        else:
            receipt = SendReceipt(message.message_id, self.name, message.recipients, reply_code=250)
        with self._lock:
            self.sent.append(message)
        return receipt


class FakeClock:
    """A clock for tests: time moves only by :meth:`advance` or :meth:`sleep`.

    Call it for monotonic seconds (like :func:`time.monotonic`), use :meth:`now`
    for the matching aware UTC datetime (an outbox's ``clock``), and pass
    :meth:`sleep` where code would sleep: it advances the clock at once.

    Example:
        >>> clock = FakeClock()
        >>> clock.sleep(60)
        >>> clock()
        60.0

    Args:
        start: The UTC datetime that monotonic time 0 stands for.

    Attributes:
        sleeps: Every duration passed to :meth:`sleep`, in order.
    """

    def __init__(self, start: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) -> None:
        self._start = start
        self._seconds = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._seconds

    def now(self) -> datetime:
        """The current fake time as an aware UTC datetime."""
        with self._lock:
            return self._start + timedelta(seconds=self._seconds)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never backward)."""
        if seconds < 0:
            raise ConfigurationError("a FakeClock never goes backward")
        with self._lock:
            self._seconds += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clock by it, without waiting."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
