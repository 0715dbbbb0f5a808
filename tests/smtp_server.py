"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd in a thread, scriptable and recording.

Import it from any test module (``tests/`` is on ``sys.path`` through its conftest)::

    from smtp_server import SMTPServer

    def test_something(message) -> None:
        with SMTPServer() as server:
            transport = SMTPTransport(server.host, port=server.port, security="none")
            transport.send(message)
        assert server.messages[0].data == message.as_bytes()
        assert server.connections == 1

What it can do (all keyword options, all off by default):

- ``tls_context``: implicit TLS (port 465 style) with this server context.
- ``starttls_context``: offer STARTTLS with this context; ``require_starttls`` refuses
  commands before it.
- ``users``: ``{login: password}`` accepted by AUTH PLAIN and LOGIN;
  ``xoauth2_tokens``: the access tokens AUTH XOAUTH2 accepts (the mechanism is only
  offered when given). ``auth_require_tls=False`` offers AUTH on plain connections.
- ``mail_replies`` / ``data_replies``: replies used in turn for each MAIL FROM / DATA
  (then ``250 OK``); :data:`DROP` as a DATA reply closes the connection without
  answering. A ``421`` reply closes the connection after it is sent, as servers do.
- ``rcpt_replies``: ``{address: reply}`` for RCPT TO (others are accepted).
- ``data_delay``: seconds to wait before answering DATA (a stalled server).
- ``close_after``: close the connection after every N accepted messages;
  ``idle_timeout``: close connections idle this many seconds.
- ``smtputf8``: offer SMTPUTF8 (default ``True``).

It records every accepted message (:attr:`messages`, with exact bytes and the
connection it came on), the number of connections (:attr:`connections`) and every
AUTH attempt (:attr:`auth_attempts`).

A plain server as a fixture: import :func:`smtp_server` into a ``conftest.py``
(``from smtp_server import smtp_server``) and ask for ``smtp_server`` in a test.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["DROP", "AuthAttempt", "ReceivedMessage", "SMTPServer", "smtp_server"]

#: A DATA reply that drops the connection instead of answering.
DROP = "DROP"


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the server accepted.

    Attributes:
        mail_from: The envelope sender.
        rcpt_tos: The accepted envelope recipients.
        data: The message bytes exactly as received (dot-unstuffed, CRLF line ends).
        mail_options: The MAIL FROM parameters (``SMTPUTF8``, ``SIZE=...``).
        connection: The 1-based number of the connection it arrived on.
        received_at: ``time.monotonic()`` when it was accepted.
        tls: Whether the connection was encrypted.
        login: The authenticated login, if any.
        helo: The name the client gave in EHLO/HELO.
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...]
    connection: int
    received_at: float
    tls: bool
    login: str | None
    helo: str


@dataclass(frozen=True, slots=True)
class AuthAttempt:
    """One AUTH command: the mechanism, the login or token given, and whether it succeeded."""

    mechanism: str
    credential: str
    success: bool


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self._server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._server._next(self._server._mail_replies)
        if reply is None:
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            return "250 OK"
        return self._reply(smtp, reply)

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._server._rcpt_replies.get(address)
        if reply is None:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        return self._reply(smtp, reply)

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        server = self._server
        if server._data_delay:
            await asyncio.sleep(server._data_delay)
        reply = server._next(server._data_replies)
        if reply == DROP:
            assert smtp.transport is not None
            smtp.transport.abort()
            return "250 dropped"  # never reaches the client
        if reply is not None:
            return self._reply(smtp, reply)
        assert isinstance(envelope.original_content, bytes)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with server._lock:
            server.messages.append(
                ReceivedMessage(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=envelope.original_content,
                    mail_options=tuple(envelope.mail_options),
                    connection=getattr(smtp, "connection_number", 0),
                    received_at=time.monotonic(),
                    tls=smtp.transport is not None
                    and smtp.transport.get_extra_info("sslcontext") is not None,
                    login=login,
                    helo=session.host_name or "",
                )
            )
        count = getattr(smtp, "messages_received", 0) + 1
        smtp.messages_received = count  # type: ignore[attr-defined]
        if server._close_after and count % server._close_after == 0:
            self._close_soon(smtp)
        return "250 OK queued"

    def _reply(self, smtp: SMTP, reply: str) -> str:
        if reply.startswith("421"):
            self._close_soon(smtp)
        return reply

    @staticmethod
    def _close_soon(smtp: SMTP) -> None:
        # After the reply in progress has been written (close() flushes the buffer).
        transport = smtp.transport
        assert transport is not None
        asyncio.get_running_loop().call_soon(transport.close)

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await smtp.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False)
        else:
            blob = base64.b64decode(args[1])
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        ok = token in self._server._xoauth2_tokens
        self._server._record(AuthAttempt("XOAUTH2", token, ok))
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(fields.get("user", "").encode(), b""))
        # Like Gmail and Microsoft 365: a JSON error as a challenge, then 535 after the empty answer.
        await smtp.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


class _RecordingSMTP(SMTP):
    connection_number = 0
    messages_received = 0

    def __init__(self, handler: _Handler, *, server: SMTPServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None:  # not the STARTTLS upgrade of a counted one
            self.connection_number = self._owner._count_connection()
        super().connection_made(transport)


class _Controller(Controller):  # type: ignore[misc]
    def __init__(self, server: SMTPServer, smtp_kwargs: dict[str, Any], **kwargs: Any) -> None:
        self._owner = server
        self._smtp_kwargs = smtp_kwargs
        super().__init__(_Handler(server), **kwargs)

    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, server=self._owner, **self._smtp_kwargs)


class SMTPServer:
    """A real, scriptable SMTP server on 127.0.0.1 for the duration of a ``with`` block.

    See the module docstring for the options. Attributes after start:

    Attributes:
        host: ``"127.0.0.1"``.
        port: The port it listens on (a free one).
        messages: Every accepted message, in order.
        auth_attempts: Every AUTH attempt, in order.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        starttls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        users: Mapping[str, str] | None = None,
        xoauth2_tokens: Collection[str] | None = None,
        auth_require_tls: bool = True,
        mail_replies: Iterable[str] = (),
        rcpt_replies: Mapping[str, str] | None = None,
        data_replies: Iterable[str] = (),
        data_delay: float = 0.0,
        close_after: int | None = None,
        idle_timeout: float = 300.0,
        smtputf8: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._users = dict(users or {})
        self._xoauth2_tokens = frozenset(xoauth2_tokens or ())
        self._mail_replies: deque[str] = deque(mail_replies)
        self._rcpt_replies = dict(rcpt_replies or {})
        self._data_replies: deque[str] = deque(data_replies)
        self._data_delay = data_delay
        self._close_after = close_after
        self._connections = 0
        self.messages: list[ReceivedMessage] = []
        self.auth_attempts: list[AuthAttempt] = []
        self.port = _free_port()
        excluded = [] if xoauth2_tokens is not None else ["XOAUTH2"]
        smtp_kwargs: dict[str, Any] = {
            "hostname": "mx.test",
            "enable_SMTPUTF8": smtputf8,
            "tls_context": starttls_context,
            "require_starttls": require_starttls,
            "auth_require_tls": auth_require_tls,
            "auth_exclude_mechanism": excluded,
            "authenticator": self._authenticate,
            "timeout": idle_timeout,
        }
        self._controller = _Controller(
            self, smtp_kwargs, hostname=self.host, port=self.port, ssl_context=tls_context
        )

    @property
    def connections(self) -> int:
        """How many connections clients opened (a STARTTLS upgrade is not a new one)."""
        with self._lock:
            return self._connections

    def script_mail_replies(self, *replies: str) -> None:
        """Queue replies for the next MAIL FROM commands (while running)."""
        with self._lock:
            self._mail_replies.extend(replies)

    def script_data_replies(self, *replies: str) -> None:
        """Queue replies for the next DATA commands (while running); :data:`DROP` drops."""
        with self._lock:
            self._data_replies.extend(replies)

    def _count_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def _next(self, replies: deque[str]) -> str | None:
        with self._lock:
            return replies.popleft() if replies else None

    def _record(self, attempt: AuthAttempt) -> None:
        with self._lock:
            self.auth_attempts.append(attempt)

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = login in self._users and self._users[login] == password
        self._record(AuthAttempt(mechanism, login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> None:
        """Start listening (the ``with`` statement calls this)."""
        self._controller.start()
        with self._lock:  # the controller's own readiness probe is not a client
            self._connections = 0

    def stop(self) -> None:
        """Stop the server and its thread."""
        self._controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A running :class:`SMTPServer` with default options (no TLS, no AUTH), stopped after the test."""
    with SMTPServer() as server:
        yield server
