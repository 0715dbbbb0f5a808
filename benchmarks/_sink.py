"""A minimal SMTP sink on 127.0.0.1 for the benchmarks: answers 250 to everything, keeps nothing.

It runs in its own process (so the client's CPU time is the client's alone) and
is started by :class:`Sink`::

    with Sink(delay=0.05, pipelining=True) as sink:
        ...  # connect to 127.0.0.1:sink.port
        print(sink.received())  # messages accepted so far

Options:

- ``delay``: seconds between a command's arrival and its reply, like a network
  round trip: replies to commands that arrive together (a pipelined group) all
  leave together, ``delay`` later. The greeting is delayed too.
- ``pipelining``: advertise PIPELINING in the EHLO reply.

The sink understands EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT and ``XSTAT``
(its own: replies ``250 <messages received>``). It does not check anything: it is
the cheapest server a client can talk to, so client costs dominate the numbers.
Run it directly (``python benchmarks/_sink.py --delay 0.05``) to try a client by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self

_TERMINATOR = b"\r\n.\r\n"


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, state: dict[str, int], delay: float, pipelining: bool) -> None:
        self._state = state
        self._delay = delay
        ehlo = ["250-sink.test", "250-8BITMIME", "250-SMTPUTF8", "250-SIZE 104857600"]
        if pipelining:
            ehlo.append("250-PIPELINING")
        ehlo.append("250 ENHANCEDSTATUSCODES")
        self._ehlo = ("\r\n".join(ehlo) + "\r\n").encode()
        self._buffer = b""
        self._in_data = False
        self._tail = b""
        self._pending: deque[bytes] = deque()
        self._closing = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._send([b"220 sink.test ESMTP\r\n"])

    def _send(self, replies: list[bytes]) -> None:
        if not replies or self._transport is None:
            return
        out = b"".join(replies)
        if self._delay:
            # One FIFO per connection keeps replies in order whatever the timer order.
            self._pending.append(out)
            asyncio.get_running_loop().call_later(self._delay, self._flush_one)
        else:
            self._transport.write(out)
            if self._closing:
                self._transport.close()

    def _flush_one(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.write(self._pending.popleft())
        if self._closing and not self._pending:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        replies: list[bytes] = []
        while data:
            if self._in_data:
                window = self._tail + data
                end = window.find(_TERMINATOR)
                if end < 0:
                    self._tail = window[-4:]
                    break
                data = window[end + len(_TERMINATOR) :]
                self._in_data = False
                self._state["messages"] += 1
                replies.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            self._buffer += data
            data = b""
            while not self._in_data and (cut := self._buffer.find(b"\r\n")) >= 0:
                line, self._buffer = self._buffer[:cut], self._buffer[cut + 2 :]
                replies.append(self._command(line))
            if self._in_data:  # the message (or part of it) may follow in the same chunk
                data, self._buffer = self._buffer, b""
        self._send(replies)

    def _command(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb == b"EHLO":
            return self._ehlo
        if verb == b"DATA":
            self._in_data = True
            self._tail = b"\r\n"  # an empty message is just ".\r\n"
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"QUIT":
            self._closing = True
            return b"221 2.0.0 Bye\r\n"
        if verb == b"XSTA":
            return b"250 %d\r\n" % self._state["messages"]
        return b"250 2.0.0 Ok\r\n"

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(delay: float, pipelining: bool) -> None:
    state = {"messages": 0}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _SinkProtocol(state, delay, pipelining), "127.0.0.1", 0, backlog=128
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    # The parent closes our stdin to stop us.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    server.close()


class Sink:
    """The sink in a child process, for a ``with`` block.

    Args:
        delay: Seconds each reply is held back (a simulated round trip).
        pipelining: Whether EHLO offers PIPELINING.

    Attributes:
        host: ``"127.0.0.1"``.
        port: The port it listens on.
    """

    host = "127.0.0.1"

    def __init__(self, *, delay: float = 0.0, pipelining: bool = True) -> None:
        self.delay = delay
        self.pipelining = pipelining
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def describe(self) -> str:
        """One line saying what the sink does, for the report."""
        reply = f"{self.delay * 1000:.0f} ms reply delay" if self.delay else "no delay"
        return f"loopback sink ({reply}, PIPELINING {'offered' if self.pipelining else 'not offered'})"

    def received(self) -> int:
        """How many messages the sink has accepted so far (asks it over SMTP)."""
        import smtplib

        with smtplib.SMTP(self.host, self.port, timeout=30) as conn:
            code, text = conn.docmd("XSTAT")
            assert code == 250, (code, text)
            return int(text)

    def __enter__(self) -> Self:
        args = [sys.executable, str(Path(__file__).resolve()), "--delay", str(self.delay)]
        if not self.pipelining:
            args.append("--no-pipelining")
        self._process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-pipelining", action="store_true")
    args = parser.parse_args()
    asyncio.run(_serve(args.delay, not args.no_pipelining))


if __name__ == "__main__":
    main()
