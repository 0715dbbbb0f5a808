"""The crash test: a dispatcher process killed with SIGKILL at random moments, again and again.

After every kill a new process recovers (items in doubt become UNCERTAIN) and
goes on. At the end every message was accepted by the server exactly once,
except UNCERTAIN ones (at most one per kill: the one in flight), which were
accepted at most once; nothing is left pending.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import released
from loopback import LoopbackServer

from mailbill import SQLiteOutbox, Status

HERE = Path(__file__).parent
N = 600
KILLS = 20


def _child(db: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), str(db), str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_killed_dispatchers_never_lose_or_double_send(tmp_path: Path) -> None:
    """This test ensures that SIGKILL at random moments loses nothing and never sends a SENT item twice."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    db = tmp_path / "outbox.sqlite3"
    with LoopbackServer() as server:
        with SQLiteOutbox(db) as outbox:
            items = outbox.add_many([released(n) for n in range(N)])
        kills = 0
        for _ in range(KILLS):
            child = _child(db, server.port)
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.15))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.wait(timeout=30)
            child.stdout.close()
        final = _child(db, server.port)
        out, _ = final.communicate(timeout=60)
        assert final.returncode == 0, out
        received = Counter(r.message_id for r in server.received)

    with SQLiteOutbox(db) as outbox:
        counts = outbox.counts()
        statuses = {item.id: outbox.get(item.id).status for item in items}
    context = f"seed={seed} kills={kills} counts={counts}"
    assert kills >= KILLS // 2, context  # most runs were killed while working
    # nothing lost or stuck
    assert set(statuses.values()) <= {Status.SENT, Status.UNCERTAIN}, context
    # at most the one item in flight per kill is in doubt
    assert counts[Status.UNCERTAIN] <= kills, context
    for item in items:
        if statuses[item.id] is Status.SENT:
            assert received[item.message_id] == 1, context
        else:
            assert received[item.message_id] <= 1, context
    assert set(received) <= {item.message_id for item in items}, context
    assert counts[Status.SENT] >= N - kills, context
