"""Pieces of an SMTP session below the transport: exception mapping, login, the check report."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mailbill.errors import AuthenticationError, DeliveryError, MailbillError
from mailbill.transports._smtp_errors import decode_reply, error_for_exception

__all__ = [
    "PREFERRED_MECHANISMS",
    "SMTPServerReport",
    "StaleConnectionError",
    "TokenProvider",
    "login",
    "mapped",
    "report",
]

logger = logging.getLogger("mailbill.transports.smtp")

#: Returns a current OAuth2 access token; called for each login, and once more
#: when the server rejects the token (so a provider that refreshes can recover).
TokenProvider = Callable[[], str]

#: Password mechanisms tried in this order when none is pinned; only one login attempt is made.
PREFERRED_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


@dataclass(frozen=True, slots=True)
class SMTPServerReport:
    """What :meth:`SMTPTransport.check` found out about a server, without sending a message.

    Attributes:
        host: The server connected to.
        port: The port connected to.
        tls: Whether the connection was encrypted (implicit TLS or STARTTLS).
        tls_version: The TLS version negotiated (``"TLSv1.3"``), when encrypted.
        starttls_offered: Whether the server offered STARTTLS on the plain connection.
        auth_mechanisms: The AUTH mechanisms offered (after TLS), upper-case.
        authenticated: Whether the configured credentials were accepted
            (``False`` when none are configured).
        size_limit: The maximum message size the server announced (SIZE), if any.
        smtputf8: Whether the server offers SMTPUTF8.
        eightbitmime: Whether the server offers 8BITMIME.
        pipelining: Whether the server offers PIPELINING.
        greeting: The server's EHLO reply text (its name and extensions).
    """

    host: str
    port: int
    tls: bool
    tls_version: str | None
    starttls_offered: bool
    auth_mechanisms: tuple[str, ...]
    authenticated: bool
    size_limit: int | None
    smtputf8: bool
    eightbitmime: bool
    pipelining: bool
    greeting: str


def report(
    conn: smtplib.SMTP, *, host: str, port: int, starttls_offered: bool, authenticated: bool
) -> SMTPServerReport:
    """Describe what the server behind an open, negotiated connection offers."""
    sock = conn.sock
    version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
    size = conn.esmtp_features.get("size", "").strip()
    return SMTPServerReport(
        host=host,
        port=port,
        tls=version is not None,
        tls_version=version,
        starttls_offered=starttls_offered,
        auth_mechanisms=tuple(conn.esmtp_features.get("auth", "").upper().split()),
        authenticated=authenticated,
        size_limit=int(size) if size.isdigit() and int(size) > 0 else None,
        smtputf8=conn.has_extn("smtputf8"),
        eightbitmime=conn.has_extn("8bitmime"),
        pipelining=conn.has_extn("pipelining"),
        greeting=decode_reply(conn.ehlo_resp or b""),
    )


class StaleConnectionError(Exception):
    """A reused connection broke before DATA: safe to retry once on a fresh one.

    Attributes:
        error: The mailbill error to raise when no retry is possible.
    """

    def __init__(self, error: DeliveryError) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def mapped(during: str) -> Iterator[None]:
    """Translate smtplib, ssl and socket exceptions raised inside the block (``raise ... from``)."""
    try:
        yield
    except MailbillError:
        raise
    except (smtplib.SMTPException, OSError, ssl.CertificateError) as exc:
        raise error_for_exception(exc, during=during) from exc


def _xoauth2(user: str, token: str) -> Callable[..., str]:
    def respond(challenge: bytes | None = None) -> str:
        # After a rejected token the server sends a JSON error as a challenge;
        # the client answers with an empty line to receive the final 535.
        return f"user={user}\x01auth=Bearer {token}\x01\x01" if challenge is None else ""

    return respond


def login(
    conn: smtplib.SMTP,
    *,
    where: str,
    username: str,
    password: str | None,
    token_provider: TokenProvider | None,
    mechanism: str | None,
    encrypted: bool,
    allow_insecure_auth: bool,
) -> None:
    """Authenticate once on ``conn``: one mechanism, one attempt (XOAUTH2: one retry with a fresh token).

    Raises:
        AuthenticationError: the credentials were refused, or cannot be sent safely.
    """
    if not encrypted and not allow_insecure_auth:
        raise AuthenticationError(
            f"{where} offers no TLS; refusing to send credentials unencrypted "
            "(set allow_insecure_auth=True to allow it)"
        )
    if not conn.has_extn("auth"):
        raise AuthenticationError(f"{where} does not offer AUTH")
    offered = conn.esmtp_features["auth"].upper().split()
    if token_provider is not None:
        _login_xoauth2(conn, where, username, token_provider, offered)
        return
    candidates = (mechanism,) if mechanism else PREFERRED_MECHANISMS
    chosen = next((m for m in candidates if m in offered), None)
    if chosen is None:
        raise AuthenticationError(
            f"{where} offers AUTH {' '.join(offered)}; none of {', '.join(candidates)} "
            "(for XOAUTH2 configure oauth2_token)"
        )
    # smtplib's auth_* helpers read the credentials from these attributes.
    conn.user, conn.password = username, password or ""
    authobject = getattr(conn, "auth_" + chosen.lower().replace("-", "_"))
    with mapped(f"AUTH {chosen} at {where}"):
        try:
            conn.auth(chosen, authobject, initial_response_ok=True)
        except UnicodeEncodeError as exc:  # smtplib encodes credentials as ASCII
            raise AuthenticationError(
                f"AUTH {chosen} at {where}: smtplib can only send ASCII user names and passwords"
            ) from exc


def _login_xoauth2(
    conn: smtplib.SMTP, where: str, username: str, provider: TokenProvider, offered: list[str]
) -> None:
    if "XOAUTH2" not in offered:
        raise AuthenticationError(f"{where} does not offer XOAUTH2 (it offers {' '.join(offered)})")
    token = _token(provider)
    try:
        with mapped(f"AUTH XOAUTH2 at {where}"):
            conn.auth("XOAUTH2", _xoauth2(username, token), initial_response_ok=True)
    except AuthenticationError:
        fresh = _token(provider)
        if fresh == token:
            raise
        logger.info("%s rejected the OAuth2 token; retrying once with a fresh one", where)
        with mapped(f"AUTH XOAUTH2 at {where}"):
            conn.auth("XOAUTH2", _xoauth2(username, fresh), initial_response_ok=True)


def _token(provider: TokenProvider) -> str:
    try:
        token = provider()
    except Exception as exc:
        raise AuthenticationError(f"the OAuth2 token provider failed: {exc}") from exc
    if not isinstance(token, str) or not token:
        raise AuthenticationError("the OAuth2 token provider returned no token")
    return token
