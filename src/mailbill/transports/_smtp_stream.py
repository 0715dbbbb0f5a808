"""Many messages on one SMTP connection, each envelope written before the previous reply is read.

With PIPELINING (RFC 2920) one message costs two round trips: the envelope
group (MAIL FROM, RCPT TO..., DATA), then the message. The RFC also lets
message content start a group, so the next MAIL FROM may follow the end of a
message without waiting for its reply. Once the server said 354 to message
*n*, :class:`Stream` writes *n*'s content and *n + 1*'s envelope in one
write, then takes message *n + 2* from the caller (who builds it while the
server works), and then reads the reply to *n*: one round trip a message. The
result of *n* is yielded before the replies to *n + 1*'s envelope are read, so
the caller records it while the server answers.

The two go out in *one* write on purpose: Postfix 3.7 answered up to ten times
more slowly when the envelope followed the content in a separate write a
fraction of a millisecond later (benchmarks/bench_postfix.py showed it).

:meth:`SMTPTransport.send` is a stream of one message, so both share this
code: reconnecting, retrying a stale reused connection once, keeping the
connection after a refusal. Each reply is mapped by the helpers of
``_pipelining.py`` (or, without PIPELINING, ``_smtp_transaction.py``). What
changes when an envelope is already under way:

- the reply to message *n* was a failure: no RSET (it would cancel *n + 1*'s
  envelope; the transaction of *n* ended with that reply anyway);
- the connection broke, or the server said 421, at the end of *n*: *n + 1*
  starts again on a new connection (its content was never sent);
- a server that closes after some messages (421 or a dropped connection at
  *n + 1*'s MAIL FROM) is treated as a stale reused connection: *n + 1* is
  retried once on a new one, like any stale reused connection.

An envelope is written ahead only when the whole group fits one window and the
connection may carry another message (``max_messages_per_connection``).
"""

from __future__ import annotations

import logging
import smtplib
from collections import deque
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING

from mailbill import _wire
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
    """One :meth:`SMTPTransport.send_many` (or :meth:`~SMTPTransport.send`) run: iterate :meth:`results`.

    Messages taken from the source wait in ``_taken`` (at most two): the first
    may have its envelope written (``_ahead``), the second has nothing written
    yet. The second is taken right after a message's content went out, so the
    caller builds it while the server works.
    """

    def __init__(self, transport: SMTPTransport, messages: Iterable[OutgoingMessage]) -> None:
        self._t = transport
        self._source = iter(messages)
        self._where = f"{transport.host}:{transport.port}"
        self._taken: deque[OutgoingMessage] = deque()
        self._ahead: Group | None = None  # the envelope of ``_taken[0]``: written, replies unread
        self._exhausted = False
        self._source_error: BaseException | None = None

    def results(self) -> Generator[SendResult, None, None]:
        """Send every message; yield each result as soon as the server's reply is read.

        The transport's lock is held while sending, not while paused at a result.
        """
        t = self._t
        try:
            while True:
                with t._lock:
                    t._attach(self)
                    message = self._take()
                    if message is None:
                        if self._source_error is not None:
                            raise self._source_error
                        return
                    try:
                        result = SendResult(message, receipt=self._send(message))
                    except Exception as exc:
                        result = SendResult(message, error=exc)
                yield result
                if self._source_error is not None:
                    raise self._source_error
        finally:
            with t._lock:  # stopped early: of the next message only the envelope was sent
                t._detach(self)

    def drop_envelope(self) -> bool:
        """Forget the envelope written ahead (the transport drops the connection); say if there was one."""
        had, self._ahead = self._ahead is not None, None
        return had

    def _take(self) -> OutgoingMessage | None:
        """The next message: one taken earlier, else the source's next (``None`` at the end)."""
        if self._taken:
            return self._taken.popleft()
        self._fill(1)
        return self._taken.popleft() if self._taken else None

    def _fill(self, depth: int) -> None:
        """Take messages from the source until ``depth`` wait; a source error ends the run later."""
        while len(self._taken) < depth and not self._exhausted:
            try:
                message = next(self._source, None)
            except BaseException as exc:  # raised once the result in progress is yielded
                self._exhausted, self._source_error = True, exc
                return
            if message is None:
                self._exhausted = True
                return
            self._taken.append(message)

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
                if group is None and not self._pipelined(conn):
                    receipt = t._transact(conn, message, data)  # step by step
                else:
                    if group is None:
                        options = mail_options(conn, message, data, where=self._where)
                        group = start_transaction(conn, message, options)
                    accepted, refused = read_envelope(group, message)
                    ahead = self._next_envelope(conn)
                    send_body(conn, data, then=ahead[1] if ahead else b"", dots=_wire.known_dots(message))
                    self._ahead = ahead[0] if ahead else None
                    self._fill(2)  # built while the server works on this message
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

    def _pipelined(self, conn: smtplib.SMTP) -> bool:
        return self._t.pipelining and conn.has_extn("pipelining")

    def _envelope_ahead(self) -> bool:
        """Whether the next message's envelope went out with this message."""
        return self._ahead is not None

    def _next_envelope(self, conn: smtplib.SMTP) -> tuple[Group, bytes] | None:
        """The next message's envelope group and its bytes, when it may share this connection.

        The bytes go out in the same write as this message's content (a server
        such as Postfix answers far more slowly when they come in a separate one).
        """
        self._fill(1)
        limit = self._t.max_messages_per_connection
        if not self._taken or (limit is not None and self._t._sent_on_connection + 2 > limit):
            return None
        if not self._pipelined(conn):
            return None
        nxt = self._taken[0]
        try:
            data = nxt.as_bytes()
            group = start_transaction(conn, nxt, mail_options(conn, nxt, data, where=self._where))
        except Exception:  # it is sent on its own next, where the same error is reported
            return None
        lines = group.take_all()
        return None if lines is None else (group, lines)
