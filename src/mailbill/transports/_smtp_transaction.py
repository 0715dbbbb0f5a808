"""The steps of one SMTP mail transaction: MAIL FROM, RCPT TO, DATA.

Kept apart from the transport so that a variant (PIPELINING) can reuse or replace
them; each step maps smtplib's exceptions and replies into mailbill's errors.
"""

from __future__ import annotations

import smtplib

from mailbill._models import OutgoingMessage
from mailbill.errors import (
    PermanentDeliveryError,
    RecipientsRefusedError,
    RefusedRecipient,
    TransientDeliveryError,
)
from mailbill.transports._pipelining import dot_stuff
from mailbill.transports._smtp_errors import (
    decode_reply,
    error_for_exception,
    error_for_reply,
    refused_recipient,
)
from mailbill.transports._smtp_session import StaleConnectionError

__all__ = ["mail", "mail_options", "rcpt", "send_data"]


def mail_options(conn: smtplib.SMTP, message: OutgoingMessage, data: bytes, *, where: str) -> list[str]:
    """The MAIL FROM parameters ``message`` needs on this server (SMTPUTF8, 8BITMIME, SIZE).

    Raises:
        PermanentDeliveryError: SMTPUTF8 is needed and not offered, or the message is over SIZE.
    """
    options: list[str] = []
    if message.smtputf8:
        if not conn.has_extn("smtputf8"):
            raise PermanentDeliveryError(
                f"message {message.message_id} has a non-ASCII address and needs SMTPUTF8, "
                f"which {where} does not offer"
            )
        options.append("SMTPUTF8")
    if conn.has_extn("8bitmime") and not data.isascii():
        options.append("BODY=8BITMIME")
    if conn.has_extn("size"):
        limit = conn.esmtp_features["size"].strip()
        if limit.isdigit() and 0 < int(limit) < len(data):
            raise PermanentDeliveryError(
                f"message {message.message_id} is {len(data)} bytes; {where} accepts at most {limit}"
            )
        options.append(f"SIZE={len(data)}")
    return options


def mail(conn: smtplib.SMTP, mail_from: str, options: list[str]) -> None:
    """MAIL FROM; a broken connection or a 421 raises :class:`StaleConnectionError`."""
    try:
        code, text = conn.mail(mail_from, options)
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise StaleConnectionError(error_for_exception(exc, during="MAIL FROM")) from exc
    except smtplib.SMTPException as exc:
        raise error_for_exception(exc, during="MAIL FROM") from exc
    if code == 421:  # often a server's idle timeout reported late: retry on a new connection
        raise StaleConnectionError(error_for_reply(code, text, during="MAIL FROM"))
    if code != 250:
        raise error_for_reply(code, text, during="MAIL FROM")


def rcpt(
    conn: smtplib.SMTP, recipients: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[RefusedRecipient, ...]]:
    """RCPT TO for each recipient; return the accepted and the refused.

    Raises:
        RecipientsRefusedError: every recipient was refused permanently.
        TransientDeliveryError: every recipient was refused, some only temporarily.
    """
    accepted: list[str] = []
    refused: list[RefusedRecipient] = []
    for address in recipients:
        try:
            code, text = conn.rcpt(address)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise StaleConnectionError(error_for_exception(exc, during=f"RCPT TO {address}")) from exc
        except smtplib.SMTPException as exc:
            raise error_for_exception(exc, during=f"RCPT TO {address}") from exc
        if code == 421:
            raise error_for_reply(code, text, during=f"RCPT TO {address}")
        if code in (250, 251):
            accepted.append(address)
        else:
            refused.append(refused_recipient(address, code, text))
    if not accepted:
        temporary = next((r for r in refused if r.code < 500), None)
        if temporary is not None:  # a later try may get through; do not fail the message
            raise error_for_reply(temporary.code, temporary.text, during=f"RCPT TO {temporary.address}")
        listing = "; ".join(f"{r.address}: {r.code} {r.text}" for r in refused)
        raise RecipientsRefusedError(f"every recipient was refused ({listing})", refused=refused)
    return tuple(accepted), tuple(refused)


def send_data(conn: smtplib.SMTP, data: bytes, *, dots: bool | None = None) -> tuple[int, str]:
    """DATA and the message; the final reply. Nothing here is ever retried.

    The message goes through :func:`~mailbill.transports._pipelining.dot_stuff`
    (``dots`` as there), not smtplib's ``data()``: for bytes, smtplib doubles
    leading dots but leaves a bare LF as it is, which a hand-made message could
    use to end DATA early on a lenient server (SMTP smuggling).
    """
    try:
        code, text = conn.docmd("DATA")
    except (smtplib.SMTPException, OSError) as exc:
        raise error_for_exception(exc, during="DATA") from exc
    if code != 354:
        raise error_for_reply(code, text, during="DATA")
    try:
        conn.send(dot_stuff(data, dots=dots))
        code, text = conn.getreply()
    except (smtplib.SMTPException, OSError) as exc:
        error = error_for_exception(exc, during="DATA")
        if isinstance(error, TransientDeliveryError):
            error = TransientDeliveryError(
                f"{error} - the server may or may not have accepted the message",
                smtp_code=error.smtp_code,
                enhanced_status=error.enhanced_status,
                server_text=error.server_text,
            )
        raise error from exc
    if code != 250:
        raise error_for_reply(code, text, during="end of DATA")
    return code, decode_reply(text)
