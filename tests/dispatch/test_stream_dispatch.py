"""The dispatcher streams each claimed chunk through SMTPTransport.send_many (PIPELINING).

Against the real aiosmtpd server of ``tests/pipelining_server.py`` and a SQLite
outbox: messages overlap on the connection, every result is recorded, and a
result that pauses the account ends the chunk without sending what the
transport had taken ahead.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from helpers import released

from mailbill import Dispatcher, SMTPTransport, SQLiteOutbox, Status
from mailbill.testing import FakeClock
from pipelining_server import PipeliningServer


def dispatcher_for(server: PipeliningServer, outbox: SQLiteOutbox, clock: FakeClock) -> Dispatcher:
    def connection() -> SMTPTransport:
        return SMTPTransport(server.host, port=server.port, security="none", name="default", timeout=5)

    return Dispatcher(outbox, {"default": connection}, clock=clock.now, monotonic=clock, sleep=clock.sleep)


def test_a_chunk_goes_out_one_round_trip_a_message(tmp_path: Path) -> None:
    """This test ensures that the dispatcher sends each next envelope with the previous message."""
    clock = FakeClock()
    with (
        PipeliningServer(end_delay=0.02) as server,
        SQLiteOutbox(tmp_path / "outbox.sqlite3", clock=clock.now, durable=False) as outbox,
    ):
        items = outbox.add_many([released(n) for n in range(5)])
        report = dispatcher_for(server, outbox, clock).run_once()
        assert report.sent == 5
        assert [outbox.get(i.id).status for i in items] == [Status.SENT] * 5
    assert [m.data for m in server.messages] == [i.message for i in items]
    assert all(b.startswith(b"MAIL FROM:") for b in server.buffered_at_end[:4])
    assert server.connections == 1


def test_a_throttled_result_gives_back_what_was_taken_ahead(tmp_path: Path) -> None:
    """This test ensures that after a 4.7.x reply no message taken ahead is sent during the pause."""
    clock = FakeClock()
    start = clock.now()
    with (
        PipeliningServer(data_replies=["452 4.7.1 too many messages, slow down"]) as server,
        SQLiteOutbox(tmp_path / "outbox.sqlite3", clock=clock.now, durable=False) as outbox,
    ):
        items = outbox.add_many([released(n) for n in range(5)])
        report = dispatcher_for(server, outbox, clock).run_once()  # waits out the pause (fake clock)
        stored = [outbox.get(i.id) for i in items]
    assert report.sent == 5
    assert stored[0].attempts[0].smtp_code == 452
    # Message 1's envelope had gone out with message 0 and message 2 was built; both went back
    # untried, like the rest of the chunk, and everything was sent after the 60 s pause.
    assert [[a.error_message for a in s.attempts[:-1]] for s in stored[1:]] == [["account paused"]] * 4
    assert all(s.sent_at is not None and s.sent_at >= start + timedelta(seconds=60) for s in stored)
    assert sorted(m.data for m in server.messages) == sorted(i.message for i in items)
