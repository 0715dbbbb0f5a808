"""A transport that keeps messages in a list: for tests and previews."""

from __future__ import annotations

import threading

from mailbill._models import OutgoingMessage, SendReceipt
from mailbill.errors import UnsupportedFeatureError
from mailbill.transports.base import BaseTransport, Capabilities

__all__ = ["MemoryTransport"]


class MemoryTransport(BaseTransport):
    """Keep every sent message in :attr:`outbox` (like Django's locmem backend).

    Example:
        >>> transport = MemoryTransport()
        >>> receipt = transport.send(message)  # doctest: +SKIP
        >>> transport.outbox[0].subject  # doctest: +SKIP
        'Invoice 1001'

    Attributes:
        outbox: The messages sent, in order.
        sent_bytes: Their composed bytes, in the same order.
    """

    def __init__(self, *, name: str = "memory", capabilities: Capabilities | None = None) -> None:
        self.name = name
        if capabilities is not None:
            self.capabilities = capabilities
        self.outbox: list[OutgoingMessage] = []
        self.sent_bytes: list[bytes] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Record ``message`` (and its bytes) and return a receipt accepting every recipient."""
        if message.smtputf8 and not self.capabilities.smtputf8:
            raise UnsupportedFeatureError(f"{self.name}: the message needs SMTPUTF8")
        data = message.as_bytes()
        with self._lock:
            self.outbox.append(message)
            self.sent_bytes.append(data)
        return SendReceipt(
            message_id=message.message_id,
            transport=self.name,
            accepted=message.recipients,
            reply_code=250,
            reply_text="OK (memory)",
        )

    def clear(self) -> None:
        """Forget every message recorded so far."""
        with self._lock:
            self.outbox.clear()
            self.sent_bytes.clear()
