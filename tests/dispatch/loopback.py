"""A loopback SMTP server (aiosmtpd) with scripted faults, and a minimal smtplib transport.

Stand-ins for the crash and fault tests until ``SMTPTransport`` and the shared
``tests/smtp_server.py`` land on main; both are small on purpose so the tests
can switch to the real ones by changing one import.
"""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailbill import (
    OutgoingMessage,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientsRefusedError,
    RefusedRecipient,
    SendReceipt,
    TransientDeliveryError,
)
from mailbill.transports.base import BaseTransport

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
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        refuse: frozenset[str] = frozenset(),
        on_mail: Callable[[float], str | None] | None = None,
        on_data: Callable[[float], str | None] | None = None,
    ) -> None:
        self.clock = clock
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


class LoopbackTransport(BaseTransport):
    """The smallest SMTP transport: one smtplib connection, reopened after any error."""

    def __init__(self, port: int, *, name: str = "smtp") -> None:
        self.name = name
        self._port = port
        self._smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        """Connect (a refused connection is a transient error)."""
        if self._smtp is None:
            try:
                self._smtp = smtplib.SMTP("127.0.0.1", self._port, timeout=10)
            except OSError as exc:
                raise TransientDeliveryError(f"cannot connect: {exc}") from exc

    def close(self) -> None:
        """Say QUIT if the connection is alive, then forget it."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Send the message's bytes; map smtplib's errors onto mailbill's."""
        self.open()
        assert self._smtp is not None
        try:
            refused = self._smtp.sendmail(message.mail_from, list(message.recipients), message.as_bytes())
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop()
            raise RecipientsRefusedError(
                "every recipient was refused",
                refused=[
                    RefusedRecipient(a, c, t.decode(errors="replace")) for a, (c, t) in exc.recipients.items()
                ],
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            text = exc.smtp_error.decode(errors="replace")
            if exc.smtp_code == 421:
                raise RateLimitedError(f"{exc.smtp_code} {text}", smtp_code=421, server_text=text) from exc
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(
                    f"{exc.smtp_code} {text}", smtp_code=exc.smtp_code, server_text=text
                ) from exc
            raise PermanentDeliveryError(
                f"{exc.smtp_code} {text}", smtp_code=exc.smtp_code, server_text=text
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientDeliveryError(f"connection lost: {exc}") from exc
        return SendReceipt(
            message.message_id,
            self.name,
            tuple(r for r in message.recipients if r not in refused),
            refused=tuple(
                RefusedRecipient(a, c, t.decode(errors="replace")) for a, (c, t) in refused.items()
            ),
            reply_code=250,
            reply_text="2.0.0 OK queued",
        )
