"""Parallel connections per account: the Dispatcher with an SMTPTransport factory and a real server."""

from __future__ import annotations

import threading
from pathlib import Path

from mailbill import (
    Address,
    Dispatcher,
    DispatchEvent,
    NewItem,
    OutgoingMessage,
    SMTPTransport,
    SQLiteOutbox,
    Status,
)
from mailbill.testing import FakeClock
from smtp_server import SMTPServer


def invoice(n: int) -> NewItem:
    """A released item for account ``smtp``."""
    message = OutgoingMessage(
        sender=Address.parse("Billing <billing@example.com>"),
        to=Address.parse_list(f"Kund {n} <kund{n}@example.org>"),
        subject=f"Rechnung {n}",
        text=f"Rechnung {n} im Anhang.\n",
        business_key=f"invoice/{n}",
    )
    return NewItem.from_message(message, transport="smtp", status=Status.RELEASED)


def test_three_connections_send_each_item_once(tmp_path: Path) -> None:
    """This test ensures that parallel=3 uses three SMTP connections and sends every item exactly once."""
    with (
        SQLiteOutbox(tmp_path / "outbox.sqlite3", durable=False) as outbox,
        SMTPServer(data_delay=0.02) as server,
    ):
        stored = outbox.add_many([invoice(n) for n in range(24)])
        made: list[SMTPTransport] = []
        lock = threading.Lock()

        def factory() -> SMTPTransport:
            with lock:
                made.append(
                    SMTPTransport(server.host, port=server.port, security="none", timeout=5, name="smtp")
                )
                return made[-1]

        report = Dispatcher(outbox, {"smtp": factory}, parallel=3, batch_size=2).run_once()
        assert report.sent == 24
        assert len(made) == 3
        assert server.connections == 3
        per_connection = {m.connection for m in server.messages}
        assert per_connection == {1, 2, 3}
        assert sorted(m.data for m in server.messages) == sorted(item.message for item in stored)
        assert outbox.counts()[Status.SENT] == 24


def test_parallel_connections_share_the_account_rate(tmp_path: Path) -> None:
    """This test ensures that three connections together keep one account's rate, on a fake clock."""
    clock = FakeClock()
    sent_at: list[float] = []

    def on_event(event: DispatchEvent) -> None:
        if event.new is Status.SENT:
            sent_at.append(clock())

    with SQLiteOutbox(tmp_path / "outbox.sqlite3", durable=False) as outbox, SMTPServer() as server:
        outbox.add_many([invoice(n) for n in range(12)])

        def factory() -> SMTPTransport:
            return SMTPTransport(server.host, port=server.port, security="none", timeout=5, name="smtp")

        report = Dispatcher(
            outbox,
            {"smtp": factory},
            parallel=3,
            rates={"smtp": ["4 per 10 s"]},
            monotonic=clock,
            sleep=clock.sleep,
            on_event=on_event,
        ).run_once()
    assert report.sent == 12
    assert len(server.messages) == 12
    # 12 messages at 4 per 10 s take at least 20 s of (fake) time; three separate limits
    # would have let all 12 go at once
    assert max(sent_at) >= 20


def test_idle_connections_take_items_added_during_the_run(tmp_path: Path) -> None:
    """This test ensures that items added while one connection sends are sent on the run's other connections.

    One item is due at the start, so two of the three workers find nothing; the
    host adds six more 0.1 s later, while the first connection waits 0.3 s for
    the server's reply to its message.
    """
    with (
        SQLiteOutbox(tmp_path / "outbox.sqlite3", durable=False) as outbox,
        SMTPServer(data_delay=0.3) as server,
    ):
        outbox.add(invoice(0))
        started = threading.Event()
        host = threading.Timer(0.1, lambda: outbox.add_many([invoice(n) for n in range(1, 7)]))

        def on_event(event: DispatchEvent) -> None:
            if event.new is Status.SENDING and not started.is_set():
                started.set()
                host.start()

        def factory() -> SMTPTransport:
            return SMTPTransport(server.host, port=server.port, security="none", timeout=5, name="smtp")

        report = Dispatcher(outbox, {"smtp": factory}, parallel=3, batch_size=1, on_event=on_event).run_once()
        host.join()
        assert report.sent == 7
        assert sorted(m.data for m in server.messages) == sorted(
            outbox.get_by_key(f"invoice/{n}").message or b"" for n in range(7)
        )
        # the first connection was still in its DATA when the six arrived
        assert len({m.connection for m in server.messages}) >= 2
        assert outbox.counts()[Status.SENT] == 7
