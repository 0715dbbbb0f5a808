"""Test doubles a host application can use in its own tests.

- :class:`MemoryTransport` keeps what was sent in a list.
- :class:`ScriptedTransport` returns or raises what a test scripts, one step a message.
- :class:`FakeOutlook` stands in for Outlook's object model, for ``OutlookTransport``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from mailbill._models import OutgoingMessage, SendReceipt
from mailbill._outlook_fake import FakeAccount, FakeComError, FakeMailItem, FakeOutlook
from mailbill.transports.base import BaseTransport
from mailbill.transports.memory import MemoryTransport

__all__ = [
    "FakeAccount",
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
