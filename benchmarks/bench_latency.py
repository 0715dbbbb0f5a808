"""Round trips: a sink that answers every command 50 ms late, like a server far away.

One invoice, one recipient, sent ``count`` times to a loopback sink that holds back
each reply by 50 ms (commands that arrive together are answered together, as over
a real network), compared in one run:

- smtplib, one connection, pre-built bytes (MAIL, RCPT, DATA, message: 4 round trips);
- ``SMTPTransport`` one connection, ``pipelining=False`` (the same 4 round trips);
- ``SMTPTransport`` one connection, PIPELINING (MAIL+RCPT+DATA together, then the message: 2);
- ``SMTPTransport.send_many``, one connection, PIPELINING: each next envelope goes
  out with the previous message, before its reply (1 round trip a message);
- the ``Dispatcher`` from a SQLite outbox (it sends through ``send_many``) with one
  connection, and with ``parallel=3``: three pipelined connections of one account.

Run: ``python benchmarks/bench_latency.py [--quick] [--count N] [--delay SECONDS]``.
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import tempfile
import time
from pathlib import Path

import _invoice as inv
from _harness import machine, table
from _sink import Sink

from mailbill import Address, Dispatcher, NewItem, OutgoingMessage, SMTPTransport, SQLiteOutbox


def _message(item: NewItem) -> OutgoingMessage:
    """A message with the item's exact bytes and envelope (what a byte transport looks at)."""
    message = OutgoingMessage(
        sender=Address(item.mail_from),
        bcc=tuple(Address(r) for r in item.recipients),
        message_id=item.message_id,
    )
    message._cache["bytes"] = item.message
    return message


def run_smtplib(host: str, port: int, batch: list[OutgoingMessage]) -> float:
    """smtplib, one connection: seconds for the batch (connection set-up included)."""
    start = time.perf_counter()
    with smtplib.SMTP(host, port) as conn:
        for message in batch:
            conn.sendmail(message.mail_from, list(message.recipients), message.as_bytes())
    return time.perf_counter() - start


def run_transport(host: str, port: int, batch: list[OutgoingMessage], *, pipelining: bool) -> float:
    """One SMTPTransport: seconds for the batch (connection set-up included)."""
    start = time.perf_counter()
    with SMTPTransport(host, port=port, security="none", pipelining=pipelining) as transport:
        for message in batch:
            transport.send(message)
    return time.perf_counter() - start


def run_send_many(host: str, port: int, batch: list[OutgoingMessage]) -> float:
    """One SMTPTransport, the whole batch through ``send_many``: seconds."""
    start = time.perf_counter()
    with SMTPTransport(host, port=port, security="none") as transport:
        results = list(transport.send_many(batch))
    assert all(r.error is None for r in results)
    return time.perf_counter() - start


def run_dispatcher(host: str, port: int, items: list[NewItem], *, parallel: int) -> float:
    """The Dispatcher from a SQLite outbox with ``parallel`` pipelined connections: seconds."""
    with tempfile.TemporaryDirectory() as tmp, SQLiteOutbox(Path(tmp) / "outbox.sqlite3") as outbox:
        outbox.add_many(items)

        def factory() -> SMTPTransport:
            return SMTPTransport(host, port=port, security="none", name="default")

        # Claims small enough that every connection gets a share of the batch.
        size = max(2, len(items) // (2 * parallel))
        dispatcher = Dispatcher(outbox, {"default": factory}, parallel=parallel, batch_size=size)
        start = time.perf_counter()
        report = dispatcher.run_once()
        elapsed = time.perf_counter() - start
        assert report.sent == len(items), report
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (20 a client)")
    parser.add_argument("--count", type=int, help="messages a client (default 60)")
    parser.add_argument("--delay", type=float, default=0.05, help="reply delay in seconds (default 0.05)")
    args = parser.parse_args()
    count = args.count or (20 if args.quick else 60)
    pdf = inv.make_pdf()
    templates = inv.mailbill_templates()
    items = list(inv.mailbill_items(templates, iter(range(count)), pdf))  # RELEASED
    batch = [_message(item) for item in items]
    results: list[tuple[str, float]] = []
    with Sink(delay=args.delay) as sink:
        print(f"bench_latency: {count} invoices a client, 1 recipient each; {machine()}")
        print(f"sink: {sink.describe()}")
        before = sink.received()
        results.append(("smtplib, 1 connection", run_smtplib(sink.host, sink.port, batch)))
        results.append(
            (
                "SMTPTransport, 1 connection, no pipelining",
                run_transport(sink.host, sink.port, batch, pipelining=False),
            )
        )
        results.append(
            (
                "SMTPTransport, 1 connection, PIPELINING",
                run_transport(sink.host, sink.port, batch, pipelining=True),
            )
        )
        results.append(("SMTPTransport.send_many, 1 connection", run_send_many(sink.host, sink.port, batch)))
        results.append(
            ("Dispatcher, 1 connection, PIPELINING", run_dispatcher(sink.host, sink.port, items, parallel=1))
        )
        results.append(
            ("Dispatcher, 3 connections, PIPELINING", run_dispatcher(sink.host, sink.port, items, parallel=3))
        )
        assert sink.received() - before == count * len(results)
    base = count / results[0][1]
    rows = [[name, f"{count / seconds:.1f}", f"{count / seconds / base:.2f}x"] for name, seconds in results]
    print(table(["client", "msgs/s", "vs smtplib"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
