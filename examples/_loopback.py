"""A loopback SMTP server for the examples: aiosmtpd on 127.0.0.1, keeping what it receives.

The examples start it so they run anywhere without a mail server; in production the
transport points at your real server instead. (aiosmtpd comes with ``mailbill[tests]``.)
"""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    """Everything the server accepted: (envelope recipients, parsed message) pairs."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


class LoopbackSMTP:
    """``with LoopbackSMTP() as server:`` runs an SMTP server on 127.0.0.1:``server.port``."""

    def __init__(self) -> None:
        self.received = Received()
        with socket.socket() as probe:  # a free port on loopback
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(self.received, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> LoopbackSMTP:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
