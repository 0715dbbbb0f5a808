"""A loopback SMTP server (aiosmtpd) with scripted faults, for the dispatcher's fault tests.

It differs from ``tests/smtp_server.py`` in what the fault test needs: receive
times from an injected clock and per-command fault scripts (421/451 for a while,
550 for some recipients, dropped connections). The tests send to it with the real
``SMTPTransport``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

#: Returned by a fault hook to drop the connection without answering.
DROP = "DROP"


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted message: when (by the server's clock), its Message-ID and recipients."""

    at: float
    message_id: str
    rcpt_tos: tuple[str, ...]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _message_id(data: bytes) -> str:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
        if not line:
            break
    return ""


class LoopbackServer:
    """An SMTP server on 127.0.0.1 in a thread that records accepted messages.

    Args:
        clock: Stamps accepted messages (a FakeClock shares the dispatcher's time).
        refuse: Recipients answered with ``550 5.1.1``.
        on_mail: Called at MAIL FROM with the server's time; returns a reply to
            send instead of 250 (``"451 ..."``, ``"421 ..."``), or ``None``.
        on_data: Called at the end of DATA; returns :data:`DROP`, a reply, or ``None``.
        pipelining: Offer PIPELINING in the EHLO reply (aiosmtpd reads commands
            line by line, so it handles pipelined ones; it only does not offer it).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        refuse: frozenset[str] = frozenset(),
        on_mail: Callable[[float], str | None] | None = None,
        on_data: Callable[[float], str | None] | None = None,
        pipelining: bool = False,
    ) -> None:
        self.clock = clock
        self.pipelining = pipelining
        self.refuse = refuse
        self.on_mail = on_mail
        self.on_data = on_data
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.port = _free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._controller.stop()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.on_mail(self.clock()) if self.on_mail else None
        if reply is not None:
            return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = self.clock()
        reply = self.on_data(now) if self.on_data else None
        if reply == DROP:
            assert server.transport is not None
            server.transport.abort()
            return "250 dropped"  # never reaches the client
        if reply is not None:
            return reply
        data = envelope.original_content
        assert isinstance(data, bytes)
        with self.lock:
            self.received.append(Received(now, _message_id(data), tuple(envelope.rcpt_tos)))
        return "250 2.0.0 OK queued"
