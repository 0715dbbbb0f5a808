"""SMTPTransport: send composed bytes to an SMTP server with the standard library's smtplib."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from pathlib import Path

from mailbill import _wire
from mailbill._models import OutgoingMessage, SendReceipt
from mailbill.errors import (
    ConfigurationError,
    DeliveryError,
    TLSError,
    TransientDeliveryError,
)
from mailbill.transports._smtp_presets import SMTP_PRESETS, Security
from mailbill.transports._smtp_session import (
    PREFERRED_MECHANISMS,
    SMTPServerReport,
    TokenProvider,
    login,
    mapped,
    report,
)
from mailbill.transports._smtp_stream import Stream
from mailbill.transports._smtp_transaction import mail, mail_options, rcpt, send_data
from mailbill.transports.base import BaseTransport, Capabilities, SendResult

__all__ = ["SMTPServerReport", "SMTPTransport", "TokenProvider"]

logger = logging.getLogger(__name__)

_SECURITIES = ("auto", "starttls", "tls", "none")
_DEFAULT_PORTS = {"tls": 465, "starttls": 587, "auto": 587, "none": 25}


class SMTPTransport(BaseTransport):
    """Send messages to an SMTP server, reusing one connection for many messages.

    Example:
        >>> transport = SMTPTransport(
        ...     "smtp.office365.com", port=587, security="starttls",
        ...     username="billing@example.com", oauth2_token=get_token,
        ... )  # doctest: +SKIP
        >>> with transport:  # doctest: +SKIP
        ...     receipt = transport.send(message)

    Args:
        host: The server's host name or address.
        port: The port; by default 465 for ``security="tls"``, 25 for ``"none"``, else 587.
        security: ``"tls"`` (implicit TLS), ``"starttls"`` (the server must offer it),
            ``"auto"`` (implicit TLS on port 465, STARTTLS when offered elsewhere) or
            ``"none"`` (no encryption).
        username: The login name, for password or OAuth2 authentication.
        password: The password (never shown in ``repr`` or logs).
        oauth2_token: A callable returning an OAuth2 access token, for XOAUTH2.
        auth_mechanism: Pin one password mechanism (``"PLAIN"``, ``"LOGIN"``, ``"CRAM-MD5"``).
        allow_insecure_auth: Allow sending credentials over an unencrypted connection.
        ssl_context: A ready TLS context; replaces the ``ca_file``/``client_cert`` options.
        ca_file: A PEM file of CA certificates to trust instead of the system's.
        client_cert: A PEM client certificate (with its key unless ``client_key`` is given).
        client_key: The client certificate's private key file.
        timeout: Seconds to wait for the server on each network operation.
        local_hostname: The name sent in EHLO (the machine's FQDN by default).
        max_messages_per_connection: Reconnect after this many messages (``None``: never).
        idle_check_after: Before reusing a connection idle this many seconds, check it with NOOP.
        name: The transport's name in receipts, logs and rate limits.
        pipelining: Send MAIL FROM, all RCPT TO and DATA in one round trip when the
            server offers PIPELINING (RFC 2920); ``False`` always waits for each reply.
        clock: A monotonic clock (seconds); injectable for tests.

    Raises:
        ConfigurationError: an option is invalid or options contradict each other.
    """

    capabilities = Capabilities()

    def __init__(
        self,
        host: str,
        /,
        *,
        port: int | None = None,
        security: Security = "auto",
        username: str | None = None,
        password: str | None = None,
        oauth2_token: TokenProvider | None = None,
        auth_mechanism: str | None = None,
        allow_insecure_auth: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | Path | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        max_messages_per_connection: int | None = None,
        idle_check_after: float = 10.0,
        name: str = "smtp",
        clock: Callable[[], float] = time.monotonic,
        pipelining: bool = True,
    ) -> None:
        if not host or any(c.isspace() for c in host):
            raise ConfigurationError(f"SMTP host {host!r} is not a host name")
        if security not in _SECURITIES:
            raise ConfigurationError(f"security must be one of {', '.join(_SECURITIES)}, not {security!r}")
        port = _DEFAULT_PORTS[security] if port is None else port
        if not 0 < port < 65536:
            raise ConfigurationError(f"SMTP port {port} is out of range")
        if password is not None and oauth2_token is not None:
            raise ConfigurationError("give either password or oauth2_token, not both")
        if (password is not None or oauth2_token is not None) and not username:
            raise ConfigurationError("a password or oauth2_token needs a username")
        if username and password is None and oauth2_token is None:
            raise ConfigurationError(f"username {username!r} given without password or oauth2_token")
        if security == "none" and username and not allow_insecure_auth:
            raise ConfigurationError(
                "security='none' would send the credentials unencrypted; "
                "use TLS, or set allow_insecure_auth=True if you really mean it"
            )
        if ssl_context is not None and (ca_file or client_cert or client_key):
            raise ConfigurationError("give ssl_context, or ca_file/client_cert/client_key, not both")
        if client_key and not client_cert:
            raise ConfigurationError("client_key needs client_cert")
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive, not {timeout}")
        if max_messages_per_connection is not None and max_messages_per_connection < 1:
            raise ConfigurationError("max_messages_per_connection must be at least 1")
        if auth_mechanism is not None:
            auth_mechanism = auth_mechanism.upper()
            if auth_mechanism not in PREFERRED_MECHANISMS:
                raise ConfigurationError(
                    f"auth_mechanism {auth_mechanism!r} is not one of {', '.join(PREFERRED_MECHANISMS)}"
                )
        self.name = name
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self._password = password
        self._token_provider = oauth2_token
        self._auth_mechanism = auth_mechanism
        self._allow_insecure_auth = allow_insecure_auth
        # Loading the system's CA certificates takes a noticeable moment, so a
        # transport that never negotiates TLS does not make a context it cannot use.
        self._ssl_context = (
            ssl_context
            if ssl_context is not None or (security == "none" and not (ca_file or client_cert))
            else self._make_context(ca_file, client_cert, client_key)
        )
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.max_messages_per_connection = max_messages_per_connection
        self.idle_check_after = idle_check_after
        self._clock = clock
        self.pipelining = pipelining
        # Reentrant: an abandoned send_many iteration may be finalised by this thread while it
        # holds the lock.
        self._lock = threading.RLock()
        self._stream: Stream | None = None  # the send_many iteration that uses the connection
        self._conn: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._last_used = 0.0

    @classmethod
    def from_preset(
        cls,
        preset: str,
        /,
        *,
        username: str | None = None,
        password: str | None = None,
        oauth2_token: TokenProvider | None = None,
        name: str | None = None,
        timeout: float = 30.0,
    ) -> SMTPTransport:
        """Make a transport for a well-known service from :data:`~mailbill.SMTP_PRESETS`.

        Example:
            >>> t = SMTPTransport.from_preset("microsoft365", username="a@example.com",
            ...                               oauth2_token=lambda: "token")
            >>> (t.host, t.port, t.security)
            ('smtp.office365.com', 587, 'starttls')

        Raises:
            ConfigurationError: there is no preset of that name.
        """
        try:
            found = SMTP_PRESETS[preset]
        except KeyError:
            known = ", ".join(sorted(SMTP_PRESETS))
            raise ConfigurationError(f"unknown SMTP preset {preset!r}; known presets: {known}") from None
        return cls(
            found.host,
            port=found.port,
            security=found.security,
            username=username,
            password=password,
            oauth2_token=oauth2_token,
            name=name or found.name,
            timeout=timeout,
        )

    @staticmethod
    def _make_context(
        ca_file: str | Path | None, client_cert: str | Path | None, client_key: str | Path | None
    ) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if client_cert:
                context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load TLS certificates: {exc}") from exc
        return context

    def _tls_context(self) -> ssl.SSLContext:
        # Never None where TLS is negotiated: smtplib would then use an unverified context.
        if self._ssl_context is None:
            raise ConfigurationError(
                f"security={self.security!r} needs TLS, but the transport was made with security='none';"
                " make a new SMTPTransport"
            )
        return self._ssl_context

    # -- connection -------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, secure and authenticate now (sending does it lazily otherwise).

        Raises:
            TransientDeliveryError: the server cannot be reached or timed out.
            TLSError: TLS could not be negotiated or the certificate did not verify.
            AuthenticationError: the credentials were refused or cannot be sent safely.
        """
        with self._lock:
            if self._conn is None:
                self._conn, _ = self._connect()
                self._sent_on_connection = 0
                self._last_used = self._clock()

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        with self._lock:
            self._interrupt_stream()
            self._drop(polite=True)

    def _attach(self, stream: Stream) -> None:
        """Let ``stream`` use the connection (interrupting another one's)."""
        if self._stream is not stream:
            self._interrupt_stream()
            self._stream = stream

    def _detach(self, stream: Stream) -> None:
        if self._stream is stream:
            self._interrupt_stream()

    def _interrupt_stream(self) -> None:
        """Take the connection from a paused send_many iteration.

        An envelope it wrote ahead (replies unread) leaves the connection out of
        step, so the connection is then dropped; the iteration sends that message
        again on a new connection if it is resumed.
        """
        stream, self._stream = self._stream, None
        if stream is not None and stream.drop_envelope():
            self._drop(polite=False)

    def _drop(self, *, polite: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if polite:
                conn.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server may already be gone; the socket is closed below either way
        finally:
            conn.close()

    def _connect(self) -> tuple[smtplib.SMTP, bool]:
        """Open a new connection, negotiate TLS and log in; return it and whether STARTTLS was offered."""
        implicit = self.security == "tls" or (self.security == "auto" and self.port == 465)
        where = f"{self.host}:{self.port}"
        logger.debug("connecting to %s (security=%s)", where, self.security)
        with mapped(f"connecting to {where}"):
            if implicit:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._tls_context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
        try:
            with mapped(f"greeting {where}"):
                conn.ehlo_or_helo_if_needed()
            starttls_offered = conn.has_extn("starttls")
            encrypted = implicit
            if not implicit and self.security in ("starttls", "auto"):
                if starttls_offered:
                    self._starttls(conn, where)
                    encrypted = True
                elif self.security == "starttls":
                    raise TLSError(f"{where} does not offer STARTTLS (security='starttls')")
            if self.username:
                login(
                    conn,
                    where=where,
                    username=self.username,
                    password=self._password,
                    token_provider=self._token_provider,
                    mechanism=self._auth_mechanism,
                    encrypted=encrypted,
                    allow_insecure_auth=self._allow_insecure_auth,
                )
        except BaseException:
            conn.close()
            raise
        logger.debug("connected to %s (encrypted=%s)", where, encrypted)
        return conn, starttls_offered

    def _starttls(self, conn: smtplib.SMTP, where: str) -> None:
        try:
            with mapped(f"STARTTLS with {where}"):
                conn.starttls(context=self._tls_context())
                conn.ehlo()
        except TransientDeliveryError as exc:
            # A server that rejects the handshake (no or a wrong client certificate
            # under TLS 1.3) shows it only by hanging up: an account problem.
            raise TLSError(
                f"STARTTLS with {where}: the server closed the connection during TLS "
                "negotiation (does it require a client certificate?)"
            ) from exc.__cause__

    def _connection_for_send(self) -> tuple[smtplib.SMTP, bool]:
        """Return an open connection and whether it was used before."""
        limit = self.max_messages_per_connection
        if self._conn is not None and limit is not None and self._sent_on_connection >= limit:
            self._drop(polite=True)
        if self._conn is not None and self._clock() - self._last_used >= self.idle_check_after:
            try:
                alive = self._conn.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                logger.debug("idle connection to %s:%s is gone; reconnecting", self.host, self.port)
                self._drop(polite=False)
        if self._conn is not None:
            return self._conn, True
        self._conn, _ = self._connect()
        self._sent_on_connection = 0
        return self._conn, False

    # -- sending ----------------------------------------------------------------------------

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Send ``message`` over the open connection (connecting first when needed).

        A connection the server closed while idle is replaced transparently; a
        message is never sent twice once the server has seen its DATA.

        Returns:
            A receipt with the accepted recipients, and the refused ones when the
            server accepted only some.

        Raises:
            RecipientsRefusedError: every recipient was refused permanently.
            PermanentDeliveryError: a 5xx reply, or SMTPUTF8 needed and not offered.
            TransientDeliveryError: a 4xx reply, disconnect or timeout
                (:class:`~mailbill.RateLimitedError` for 421 and 4.7.x).
            AuthenticationError: the credentials were refused.
            TLSError: TLS could not be negotiated or verified.
        """
        # One message through the same stream as send_many: one place decides
        # reconnecting, retrying a stale connection and keeping it after a refusal.
        results = Stream(self, (message,)).results()
        try:
            result = next(results)
        finally:
            results.close()
        if result.error is not None:
            raise result.error
        assert result.receipt is not None
        return result.receipt

    def send_many(self, messages: Iterable[OutgoingMessage], /) -> Iterator[SendResult]:
        """Send messages over one connection; yield each result, in order, as its reply arrives.

        The same as :meth:`send` for each message, and the same errors in the
        results. When the server offers PIPELINING (and ``pipelining`` is on),
        the next message's envelope goes out with the previous message, before
        the reply to it is read: one round trip a message instead of two. The
        next message is taken from ``messages`` once the server accepted the
        previous one's envelope; each result is yielded as soon as its reply is
        read, so the caller records it while the server works on the next
        envelope. A :meth:`send` or :meth:`close` while the iteration is paused
        takes the connection over (a new one is opened if the iteration goes on).
        """
        yield from Stream(self, messages).results()

    def _after_failure(self, exc: DeliveryError) -> None:
        """Keep the connection for the next message when the server only refused this one."""
        conn = self._conn
        broken = isinstance(exc.__cause__, OSError | smtplib.SMTPServerDisconnected)
        if conn is None or broken or exc.smtp_code == 421:
            self._drop(polite=False)
            return
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop(polite=False)

    def _transact(self, conn: smtplib.SMTP, message: OutgoingMessage, data: bytes) -> SendReceipt:
        """One mail transaction step by step: MAIL FROM, RCPT TO for each recipient, DATA.

        For a server without PIPELINING, or with ``pipelining=False`` (the stream in
        ``_smtp_stream.py`` pipelines otherwise). Failures before DATA raise
        :class:`StaleConnectionError` when the connection itself broke (the caller may
        retry on a fresh connection); nothing is retried after DATA was sent.
        """
        options = mail_options(conn, message, data, where=f"{self.host}:{self.port}")
        mail(conn, message.mail_from, options)
        accepted, refused = rcpt(conn, message.recipients)
        code, text = send_data(conn, data, dots=_wire.known_dots(message))
        return SendReceipt(
            message_id=message.message_id,
            transport=self.name,
            accepted=accepted,
            refused=refused,
            reply_code=code,
            reply_text=text,
        )

    # -- checking ---------------------------------------------------------------------------

    def check(self) -> SMTPServerReport:
        """Connect, negotiate TLS, log in and report what the server offers; send nothing.

        This is the "test settings" button: it uses a fresh connection and closes it.

        Raises:
            TransientDeliveryError: the server cannot be reached or timed out.
            TLSError: TLS could not be negotiated or verified.
            AuthenticationError: the credentials were refused or cannot be sent safely.
        """
        conn, starttls_offered = self._connect()
        try:
            return report(
                conn,
                host=self.host,
                port=self.port,
                starttls_offered=starttls_offered,
                authenticated=bool(self.username),
            )
        finally:
            with suppress(smtplib.SMTPException, OSError):
                conn.quit()
            conn.close()

    def __repr__(self) -> str:
        auth = "oauth2" if self._token_provider else "password" if self._password is not None else "none"
        user = f"{self.username}@" if self.username else ""
        return (
            f"<{type(self).__name__} name={self.name!r} "
            f"server='{user}{self.host}:{self.port}' security={self.security!r} auth={auth}>"
        )
