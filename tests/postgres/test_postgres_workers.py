"""Several worker processes on one PostgreSQL outbox: exactly-once claims and one shared rate limit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from helpers import released

from mailbill import PostgresOutbox, Status
from smtp_server import SMTPServer

pytestmark = pytest.mark.postgres

HERE = Path(__file__).parent
ITEMS = 2000
WORKERS = 4
LIMIT = 100  # messages per second, for all workers together (this 2-core machine does ~150)
WINDOW = 1.0


def start_worker(dsn: str, schema: str, port: int, rate: str, *extra: str) -> subprocess.Popen[str]:
    """A pg_worker.py process (tests/ and tests/dispatch on its path)."""
    paths = [str(HERE), str(HERE.parent), str(HERE.parent / "dispatch"), os.environ.get("PYTHONPATH", "")]
    return subprocess.Popen(
        [sys.executable, str(HERE / "pg_worker.py"), dsn, schema, str(port), rate, *extra],
        stdout=subprocess.PIPE,
        encoding="utf-8",
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )


def message_ids(server: SMTPServer) -> list[str]:
    """The Message-ID of every message the server accepted, in order."""
    parser = BytesHeaderParser()
    return [str(parser.parsebytes(m.data)["Message-ID"]) for m in server.messages]


def busiest_window(times: list[float], seconds: float) -> int:
    """The most messages received in any window of ``seconds`` (a sliding window over receive times)."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.slow
def test_four_workers_send_each_message_once_within_the_shared_limit(pg_dsn: str, pg_schema: str) -> None:
    """This test ensures that 4 processes send 2,000 mails each exactly once, together under one limit."""
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        items = outbox.add_many([released(n) for n in range(ITEMS)])
    with SMTPServer() as server:
        t0 = time.monotonic()
        workers = [
            start_worker(pg_dsn, pg_schema, server.port, f"{LIMIT} per {WINDOW} s") for _ in range(WORKERS)
        ]
        outputs = [w.communicate(timeout=120)[0] for w in workers]
        elapsed = time.monotonic() - t0
        assert [w.returncode for w in workers] == [0] * WORKERS, outputs
        received = Counter(message_ids(server))
        times = [m.received_at for m in server.messages]
        connections = server.connections

    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        assert outbox.counts()[Status.SENT] == ITEMS
        sent_by = Counter(outbox.get(item.id).attempts[-1].outcome for item in items[:50])
    assert sent_by == {Status.SENT: 50}
    # every message accepted exactly once
    assert sorted(received) == sorted(item.message_id for item in items)
    assert set(received.values()) == {1}
    assert connections >= WORKERS  # all four took part
    # the combined rate never above the limit: the server's clock, any window of 1 s;
    # the tolerance covers jitter between a worker taking a slot and the server's receipt
    busiest = busiest_window(times, WINDOW)
    assert busiest <= LIMIT * 1.1 + 5, f"{busiest} messages in one {WINDOW} s window"
    # the limit really was what held them back (otherwise this test would prove nothing)
    assert busiest >= LIMIT * 0.7
    assert elapsed >= (ITEMS - LIMIT) / LIMIT * WINDOW * 0.9
