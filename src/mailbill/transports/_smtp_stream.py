"""Many messages on one SMTP connection, each envelope written before the previous reply is read.

With PIPELINING (RFC 2920) one message costs two round trips: the envelope
group (MAIL FROM, RCPT TO..., DATA), then the message. The RFC also lets
message content start a group, so the next MAIL FROM may follow the end of a
message without waiting for its reply. Once the server said 354 to message
*n*, :class:`Stream` takes message *n + 1* from the caller and writes *n*'s
content and *n + 1*'s envelope in one write, and then reads the reply to *n*:
one round trip a message. The result of *n* is yielded before the replies to
*n + 1*'s envelope are read, so the caller records it while the server
answers.

The two go out in *one* write on purpose: Postfix 3.7 answered up to ten times
more slowly when the envelope followed the content in a separate write a
fraction of a millisecond later (benchmarks/bench_postfix.py showed it).

Each reply is still mapped exactly as :func:`~mailbill.transports._pipelining.pipelined_transaction`
maps it. What changes when an envelope is already under way:

- the reply to message *n* was a failure: no RSET (it would cancel *n + 1*'s
  envelope; the transaction of *n* ended with that reply anyway);
- the connection broke, or the server said 421, at the end of *n*: *n + 1*
  starts again on a new connection (its content was never sent);
- a server that closes after some messages (421 or a dropped connection at
  *n + 1*'s MAIL FROM) is treated as a stale reused connection: *n + 1* is
  retried once on a new one, as :meth:`SMTPTransport.send` does.

An envelope is written ahead only when the whole group fits one window and the
connection may carry another message (``max_messages_per_connection``).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from mailbill._models import OutgoingMessage, SendReceipt
from mailbill.errors import DeliveryError
from mailbill.transports._pipelining import (
    Group,
    read_end_of_data,
    read_envelope,
    send_body,
    start_transaction,
)
from mailbill.transports._smtp_session import StaleConnectionError
from mailbill.transports._smtp_transaction import mail_options
from mailbill.transports.base import SendResult

if TYPE_CHECKING:
    from mailbill.transports.smtp import SMTPTransport

__all__ = ["Stream"]

logger = logging.getLogger(__name__)


class Stream:
    """One :meth:`SMTPTransport.send_many` run; iterate :meth:`results` under the transport's lock."""

    def __init__(self, transport: SMTPTransport, messages: Iterable[OutgoingMessage]) -> None:
        self._t = transport
        self._source = iter(messages)
        self._where = f"{transport.host}:{transport.port}"
        self._ahead: Group | None = None  # the envelope of ``_next``, written, replies unread
        self._next: OutgoingMessage | None = None
        self._pulled = False
        self._source_error: BaseException | None = None

    def results(self) -> Iterator[SendResult]:
        """Send every message; yield each result as soon as the server's reply is read."""
        message = next(self._source, None)
        try:
            while message is not None:
                self._pulled = False
                try:
                    receipt = self._send(message)
                except Exception as exc:
                    yield SendResult(message, error=exc)
                else:
                    yield SendResult(message, receipt=receipt)
                if self._source_error is not None:
                    raise self._source_error
                message = self._next if self._pulled else next(self._source, None)
        finally:
            if self._ahead is not None:  # stopped early: nothing of that message was sent but its envelope
                self._ahead = None
                self._t._drop(polite=False)

    def _send(self, message: OutgoingMessage) -> SendReceipt:
        t = self._t
        data = message.as_bytes()
        for attempt in (1, 2):
            group, self._ahead = self._ahead, None
            if group is not None:
                conn, reused = group.conn, True
            else:
                conn, reused = t._connection_for_send()
            try:
                if group is None and not conn.has_extn("pipelining"):
                    receipt = t._transact(conn, message, data)  # step by step
                else:
                    if group is None:
                        options = mail_options(conn, message, data, where=self._where)
                        group = start_transaction(conn, message, options)
                    accepted, refused = read_envelope(group, message)
                    ahead = self._pull_next(conn)
                    send_body(conn, data, then=ahead[1] if ahead else b"")
                    self._ahead = ahead[0] if ahead else None
                    receipt = read_end_of_data(conn, message, accepted, refused, transport=t.name)
            except StaleConnectionError as stale:
                t._drop(polite=False)
                if reused and attempt == 1:
                    logger.debug("reused connection failed before DATA (%s); reconnecting", stale)
                    continue
                raise stale.error from stale.__cause__
            except DeliveryError as exc:
                broken = isinstance(exc.__cause__, OSError | smtplib.SMTPServerDisconnected)
                if not self._envelope_ahead() or broken or exc.smtp_code == 421:
                    self._ahead = None
                    t._after_failure(exc)
                raise
            except BaseException:
                self._ahead = None
                t._drop(polite=False)
                raise
            t._sent_on_connection += 1
            t._last_used = t._clock()
            return receipt
        raise AssertionError("unreachable")  # pragma: no cover

    def _envelope_ahead(self) -> bool:
        """Whether the next message's envelope was written (by :meth:`_pull_next`)."""
        return self._ahead is not None

    def _pull_next(self, conn: smtplib.SMTP) -> tuple[Group, bytes] | None:
        """Take the next message; when it may share this connection, return its envelope group.

        The group's bytes go out in the same write as this message (a server such
        as Postfix answers far more slowly when they come in a separate one).
        """
        self._pulled = True
        try:
            self._next = nxt = next(self._source, None)
        except BaseException as exc:  # raised after this message's reply is read and yielded
            self._next, self._source_error = None, exc
            return None
        limit = self._t.max_messages_per_connection
        if nxt is None or (limit is not None and self._t._sent_on_connection + 2 > limit):
            return None
        try:
            data = nxt.as_bytes()
            group = start_transaction(conn, nxt, mail_options(conn, nxt, data, where=self._where))
        except Exception:  # it is sent on its own next, where the same error is reported
            return None
        lines = group.take_all()
        return None if lines is None else (group, lines)
