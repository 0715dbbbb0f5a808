"""An aiosmtpd server that advertises PIPELINING and records what a client wrote ahead.

aiosmtpd reads commands line by line, so it already handles pipelined groups; it
only does not *advertise* PIPELINING. The server adds the keyword and records
what had already arrived when it handled each MAIL FROM and each message end
(the proof of batching); it can refuse the DATA command itself or drop the
connection at a RCPT TO, or answer 421 (and close) to the MAIL FROM after some
messages on a connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from smtp_server import SMTPServer, _Handler, _RecordingSMTP

__all__ = ["PipeliningServer"]


class _PipeliningHandler(_Handler):
    def __init__(self, server: PipeliningServer) -> None:
        super().__init__(server)
        self._owner = server

    async def handle_EHLO(
        self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self._owner.advertise:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        # What the client sent beyond MAIL FROM before it could have seen this reply.
        self._owner.buffered_at_mail.append(bytes(smtp._reader._buffer))
        limit = self._owner.messages_per_connection
        if limit is not None and getattr(smtp, "messages_received", 0) >= limit:
            return self._reply(smtp, "421 4.7.0 too many messages on this connection")
        return await super().handle_MAIL(smtp, session, envelope, address, options)

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._owner.drop_at_rcpt and self._owner.drop_at_rcpt[0] == address:
            self._owner.drop_at_rcpt.popleft()
            assert smtp.transport is not None
            smtp.transport.abort()
            return "250 dropped"  # never reaches the client
        return await super().handle_RCPT(smtp, session, envelope, address, options)

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self._owner.end_delay:
            # Wait, then see what the client wrote after the message before this reply.
            await asyncio.sleep(self._owner.end_delay)
        self._owner.buffered_at_end.append(bytes(smtp._reader._buffer))
        return await super().handle_DATA(smtp, session, envelope)

    async def handle_RSET(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        self._owner.resets += 1
        return "250 OK"


class _PipeliningSMTP(_RecordingSMTP):
    async def smtp_DATA(self, arg: str) -> None:
        owner: PipeliningServer = self._owner  # type: ignore[assignment]
        assert self.envelope is not None
        if self.envelope.rcpt_tos and owner.data_command_replies:
            await self.push(owner.data_command_replies.popleft())
            return
        if not self.envelope.rcpt_tos and owner.lenient_data:
            # A server that says 354 without recipients (RFC 2920 3.1 tells the client to send ".").
            await self.push("354 go ahead")
            while (line := await self._reader.readuntil(b"\r\n")) != b".\r\n":
                owner.lenient_lines.append(line)
            owner.lenient_lines.append(line)
            await self.push("554 5.5.1 no valid recipients")
            return
        await super().smtp_DATA(arg)


class PipeliningServer(SMTPServer):
    """The test SMTP server, advertising PIPELINING (unless ``advertise=False``)."""

    def __init__(
        self,
        *,
        advertise: bool = True,
        data_command_replies: tuple[str, ...] = (),
        drop_at_rcpt: tuple[str, ...] = (),
        lenient_data: bool = False,
        end_delay: float = 0.0,
        messages_per_connection: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.messages_per_connection = messages_per_connection
        self.advertise = advertise
        self.data_command_replies = deque(data_command_replies)
        self.drop_at_rcpt = deque(drop_at_rcpt)
        self.lenient_data = lenient_data
        self.lenient_lines: list[bytes] = []
        self.buffered_at_mail: list[bytes] = []
        self.end_delay = end_delay
        self.buffered_at_end: list[bytes] = []
        self.resets = 0
        controller = self._controller
        controller.handler = _PipeliningHandler(self)
        controller.factory = lambda: _PipeliningSMTP(
            controller.handler, server=self, **controller._smtp_kwargs
        )
