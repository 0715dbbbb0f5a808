"""Translate smtplib replies and exceptions into mailbill's error tree.

The mapping is the one place that decides what a caller does next: a 4xx
reply, a disconnect or a timeout means "try again later", 421 and 4.7.x mean
"the server throttles you", 5xx means "do not retry this message", a refused
login or a bad certificate means "stop using this account".
"""

from __future__ import annotations

import re
import smtplib
import ssl

from mailbill.errors import (
    AuthenticationError,
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    RefusedRecipient,
    TLSError,
    TransientDeliveryError,
)

__all__ = [
    "decode_reply",
    "is_rate_limit",
    "error_for_exception",
    "error_for_reply",
    "parse_enhanced_status",
    "refused_recipient",
]

# RFC 3463: class.subject.detail, at the start of the reply text.
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_RETRY_AFTER = re.compile(r"(?:retry|try again)\D{0,20}(\d{1,5})\s*(?:s\b|sec|second)", re.IGNORECASE)


def decode_reply(text: bytes | str) -> str:
    """Return a server reply's text as ``str`` (UTF-8, undecodable bytes replaced)."""
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text


def parse_enhanced_status(text: str) -> str | None:
    """Return the RFC 3463 enhanced status code at the start of ``text`` (``"5.1.1"``), or ``None``.

    Example:
        >>> parse_enhanced_status("5.1.1 <x@example.com>: user unknown")
        '5.1.1'
        >>> parse_enhanced_status("user unknown") is None
        True
    """
    match = _ENHANCED.match(text)
    return ".".join(match.groups()) if match else None


def _retry_after(text: str) -> float | None:
    match = _RETRY_AFTER.search(text)
    return float(match.group(1)) if match else None


def is_rate_limit(code: int, enhanced: str | None) -> bool:
    """Whether a reply means the server throttles the sender (421, or a transient 4.7.x)."""
    return code == 421 or (code // 100 == 4 and enhanced is not None and enhanced.startswith("4.7."))


def error_for_reply(code: int, text: bytes | str, *, during: str) -> DeliveryError:
    """Return the error for an SMTP reply ``code`` received ``during`` a step (``"MAIL FROM"``, ...)."""
    reply = decode_reply(text)
    enhanced = parse_enhanced_status(reply)
    message = f"{during}: server replied {code} {reply}".rstrip()
    if is_rate_limit(code, enhanced):
        return RateLimitedError(
            message,
            retry_after=_retry_after(reply),
            smtp_code=code,
            enhanced_status=enhanced,
            server_text=reply,
        )
    cls: type[DeliveryError] = TransientDeliveryError
    if 500 <= code < 600:
        cls = PermanentDeliveryError
    # 4xx, and an unexpected reply (a 2xx where none belongs): a later try may work.
    return cls(message, smtp_code=code, enhanced_status=enhanced, server_text=reply)


def refused_recipient(address: str, code: int, text: bytes | str) -> RefusedRecipient:
    """Return the record of one refused recipient with the server's reply."""
    reply = decode_reply(text)
    return RefusedRecipient(address, code, reply, parse_enhanced_status(reply))


def error_for_exception(exc: BaseException, *, during: str) -> DeliveryError:
    """Return the mailbill error for an exception raised by smtplib, ssl or the socket layer.

    The caller raises the result ``from exc`` so the original stays as ``__cause__``.
    """
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = decode_reply(exc.smtp_error)
        return AuthenticationError(
            f"{during}: the server refused the credentials ({exc.smtp_code} {reply})",
            smtp_code=exc.smtp_code,
            enhanced_status=parse_enhanced_status(reply),
            server_text=reply,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(f"{during}: the server's certificate did not verify: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TLSError(f"{during}: TLS failed: {exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientDeliveryError(f"{during}: the server closed the connection ({exc})")
    if isinstance(exc, smtplib.SMTPResponseException):
        return error_for_reply(exc.smtp_code, exc.smtp_error, during=during)
    if isinstance(exc, TimeoutError):
        return TransientDeliveryError(f"{during}: timed out waiting for the server")
    if isinstance(exc, OSError):
        return TransientDeliveryError(f"{during}: network error: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return TransientDeliveryError(f"{during}: {exc}")
    return TransientDeliveryError(f"{during}: unexpected error: {exc!r}")
