"""SMTP PIPELINING (RFC 2920): MAIL FROM, every RCPT TO and DATA in one write.

Without pipelining a message costs ``3 + recipients`` round trips (MAIL, each
RCPT, DATA, the message); with it, two (the envelope group, then the message),
and one when the next envelope goes out with the message (``_smtp_stream.py``,
which puts these steps together). Against a server 50 ms away that is the
difference between about 5, 10 and 20 messages a second on one connection.

The replies still arrive one per command, in order, and each one is mapped with
the same helpers (and to the same errors) as the step-by-step path in
:mod:`mailbill.transports._smtp_transaction`. RFC 2920 section 3.1 asks the
client to check *every* reply of a group: when MAIL FROM or every RCPT TO was
refused, the reply to DATA is still read (and when a lenient server said 354
anyway, a lone ``.`` ends the empty message) so the connection stays in step;
the transport then resets the transaction with RSET and keeps the connection.
"""

from __future__ import annotations

import re
import smtplib

from mailbill._models import OutgoingMessage, SendReceipt
from mailbill.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientsRefusedError,
    RefusedRecipient,
    TransientDeliveryError,
)
from mailbill.transports._smtp_errors import (
    decode_reply,
    error_for_exception,
    error_for_reply,
    refused_recipient,
)
from mailbill.transports._smtp_session import StaleConnectionError

__all__ = [
    "Group",
    "dot_stuff",
    "envelope_commands",
    "read_end_of_data",
    "read_envelope",
    "send_body",
    "start_transaction",
]

#: Commands written before their replies are read (a group longer than this goes in windows).
WINDOW = 100

_LINE_END = re.compile(rb"\r\n|\r|\n")
_CRLF = b"\r\n"


def dot_stuff(data: bytes, *, dots: bool | None = None) -> bytes:
    """Return ``data`` as the DATA payload: CRLF line ends, leading dots doubled, ``.`` line at the end.

    Equivalent to smtplib's ``_fix_eols`` + ``_quote_periods`` + terminator, but with
    ``bytes.count``/``bytes.replace`` (C loops) instead of a regular expression per byte:
    composed messages already have CRLF line ends, so the common case is three counts
    and one search. ``dots`` is what the composer found (see :mod:`mailbill._wire`):
    ``None`` checks everything; ``True`` or ``False`` says the bytes are CRLF-only and
    whether a line starts with a dot, and spares both searches.

    Example:
        >>> dot_stuff(b".hidden\\r\\nline\\r\\n.\\r\\n")
        b'..hidden\\r\\nline\\r\\n..\\r\\n.\\r\\n'
        >>> dot_stuff(b"no newline at end")
        b'no newline at end\\r\\n.\\r\\n'
    """
    if dots is None:
        crlf = data.count(_CRLF)
        if data.count(b"\r") != crlf or data.count(b"\n") != crlf:  # a bare CR or LF somewhere
            data = _LINE_END.sub(_CRLF, data)
        # ``in`` is a fast substring search; replace() would scan and copy every time,
        # and composed messages seldom have a line that starts with a dot.
        dots = b"\n." in data or data.startswith(b".")
    stuffed = data.replace(b"\r\n.", b"\r\n..") if dots else data
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(_CRLF):
        stuffed += _CRLF
    return stuffed + b".\r\n"


# Characters after which smtplib.quoteaddr's address parser may change an address
# (quotes, comments, routes, groups, brackets, blanks): those take its slow path.
_UNUSUAL = re.compile(r'[\s<>()\[\]\\,;:"\x00-\x1f\x7f]')


def quote_address(address: str) -> str:
    """``address`` as an SMTP path (``<a@example.com>``), exactly as ``smtplib.quoteaddr`` gives it.

    A plain address (nothing an address parser could change) is bracketed
    directly; any other goes through ``smtplib.quoteaddr``, whose parser costs
    more than the rest of a pipelined envelope.

    Example:
        >>> quote_address("billing@example.com"), quote_address("")
        ('<billing@example.com>', '<>')
    """
    if _UNUSUAL.search(address) is None:
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def envelope_commands(mail_from: str, recipients: tuple[str, ...], options: list[str]) -> list[bytes]:
    """Return the command group, one line each: ``MAIL FROM``, a ``RCPT TO`` per recipient, ``DATA``.

    Example:
        >>> envelope_commands("a@example.com", ("b@example.com",), ["SIZE=10"])
        [b'MAIL FROM:<a@example.com> SIZE=10\\r\\n', b'RCPT TO:<b@example.com>\\r\\n', b'DATA\\r\\n']

    Raises:
        PermanentDeliveryError: an address contains a line break (it would inject commands).
    """
    if any("\r" in part or "\n" in part for part in (mail_from, *recipients, *options)):
        raise PermanentDeliveryError("an envelope address or parameter contains a line break")
    parameters = "".join(f" {option}" for option in options)
    lines = [f"MAIL FROM:{quote_address(mail_from)}{parameters}"]
    lines.extend(f"RCPT TO:{quote_address(address)}" for address in recipients)
    lines.append("DATA")
    # Like smtplib: UTF-8 commands only when the server agreed to SMTPUTF8.
    encoding = "utf-8" if any(option.upper() == "SMTPUTF8" for option in options) else "ascii"
    return [f"{line}\r\n".encode(encoding) for line in lines]


class Group:
    """Writes the command group in windows and reads the reply to each command in order.

    RFC 2920 section 3.1: a client that writes a long group without reading can
    deadlock with a server whose replies fill the socket buffers; a window of
    :data:`WINDOW` commands (about 5 KB) is written, then read, then the next.
    """

    def __init__(self, conn: smtplib.SMTP, lines: list[bytes]) -> None:
        self.conn = conn
        self._lines = lines
        self._sent = 0
        self._read = 0

    def take_all(self) -> bytes | None:
        """The whole group, to be written by the caller now, if it fits in one window; else ``None``."""
        if self._sent or len(self._lines) > WINDOW:
            return None
        self._sent = len(self._lines)
        return b"".join(self._lines)

    def reply(self) -> tuple[int, bytes]:
        """The reply to the next command (writing the next window first when needed)."""
        if self._read == self._sent:
            end = min(len(self._lines), self._sent + WINDOW)
            self.conn.send(b"".join(self._lines[self._sent : end]))
            self._sent = end
        self._read += 1
        return self.conn.getreply()


def start_transaction(conn: smtplib.SMTP, message: OutgoingMessage, options: list[str]) -> Group:
    """The envelope group of ``message`` (MAIL FROM, every RCPT TO, DATA), not written yet."""
    return Group(conn, envelope_commands(message.mail_from, message.recipients, options))


def read_envelope(group: Group, message: OutgoingMessage) -> tuple[list[str], list[RefusedRecipient]]:
    """Read the replies to the envelope group, up to the server's 354 to DATA.

    Returns:
        The accepted recipients and the refused ones (some were accepted).

    Raises:
        StaleConnectionError: the connection broke (or the server said 421 to MAIL FROM)
            before the message itself was sent; the caller may retry on a new connection.
        RecipientsRefusedError: every recipient was refused permanently.
        PermanentDeliveryError: a 5xx reply to MAIL FROM or DATA.
        TransientDeliveryError: a 4xx reply.
    """
    conn = group.conn
    try:
        code, text = group.reply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise StaleConnectionError(error_for_exception(exc, during="MAIL FROM")) from exc
    if code == 421:  # the server closes now; a reused connection may have timed out: retry
        raise StaleConnectionError(error_for_reply(code, text, during="MAIL FROM"))
    failure: DeliveryError | None = None
    if code != 250:
        failure = error_for_reply(code, text, during="MAIL FROM")

    accepted: list[str] = []
    refused: list[RefusedRecipient] = []
    for address in message.recipients:
        during = f"RCPT TO {address}"
        try:
            code, text = group.reply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if failure is not None:
                raise failure from exc  # the cause tells the transport the connection is gone
            raise StaleConnectionError(error_for_exception(exc, during=during)) from exc
        if failure is not None:
            continue  # after a refused MAIL FROM these are 503 "need MAIL first"
        if code == 421:
            raise error_for_reply(code, text, during=during)
        if code in (250, 251):
            accepted.append(address)
        else:
            refused.append(refused_recipient(address, code, text))
    if failure is None and not accepted:
        failure = _all_refused(refused)

    try:
        code, text = group.reply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        if failure is not None:
            raise failure from exc
        # The message itself was not sent yet, so nothing can have been delivered.
        raise StaleConnectionError(error_for_exception(exc, during="DATA")) from exc
    if failure is not None:
        if code == 354:  # RFC 2920 3.1: a server that accepts DATA anyway gets an empty message
            try:
                conn.send(b".\r\n")
                conn.getreply()
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise failure from exc
        raise failure
    if code != 354:
        raise error_for_reply(code, text, during="DATA")
    return accepted, refused


def _maybe_accepted(exc: BaseException) -> TransientDeliveryError:
    error = error_for_exception(exc, during="DATA")
    return TransientDeliveryError(
        f"{error} - the server may or may not have accepted the message",
        smtp_code=error.smtp_code,
        enhanced_status=error.enhanced_status,
        server_text=error.server_text,
    )


def send_body(conn: smtplib.SMTP, data: bytes, then: bytes = b"", *, dots: bool | None = None) -> None:
    """Write the message (dot-stuffed, with the final ``.``) after the server's 354.

    ``then`` (the next message's envelope group) goes out in the same write;
    ``dots`` is passed to :func:`dot_stuff`.

    Raises:
        TransientDeliveryError: the connection broke; part of the message may have arrived.
    """
    try:
        payload = dot_stuff(data, dots=dots)
        conn.send(payload + then if then else payload)
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _maybe_accepted(exc) from exc


def read_end_of_data(
    conn: smtplib.SMTP,
    message: OutgoingMessage,
    accepted: list[str],
    refused: list[RefusedRecipient],
    *,
    transport: str,
) -> SendReceipt:
    """Read the server's reply to the end of the message and make the receipt.

    Raises:
        PermanentDeliveryError: a 5xx reply.
        TransientDeliveryError: a 4xx reply, or the connection broke (the server
            may or may not have accepted the message).
    """
    try:
        code, text = conn.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _maybe_accepted(exc) from exc
    if code != 250:
        raise error_for_reply(code, text, during="end of DATA")
    return SendReceipt(
        message_id=message.message_id,
        transport=transport,
        accepted=tuple(accepted),
        refused=tuple(refused),
        reply_code=code,
        reply_text=decode_reply(text),
    )


def _all_refused(refused: list[RefusedRecipient]) -> DeliveryError:
    """The error when no recipient was accepted, exactly as the step-by-step path decides it."""
    temporary = next((r for r in refused if r.code < 500), None)
    if temporary is not None:  # a later try may get through; do not fail the message
        return error_for_reply(temporary.code, temporary.text, during=f"RCPT TO {temporary.address}")
    listing = "; ".join(f"{r.address}: {r.code} {r.text}" for r in refused)
    return RecipientsRefusedError(f"every recipient was refused ({listing})", refused=refused)
