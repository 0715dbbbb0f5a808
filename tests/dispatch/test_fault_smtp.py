"""The fault test on SQLite: a batch of 1,000 through a loopback SMTP server that misbehaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault import run_fault_scenario

from mailbill import SQLiteOutbox


@pytest.mark.slow
def test_a_batch_of_1000_survives_a_misbehaving_server(tmp_path: Path) -> None:
    """This test ensures that each deliverable mail is sent once, refused ones are PAPER, the rate holds."""
    run_fault_scenario(
        lambda clock: SQLiteOutbox(tmp_path / "outbox.sqlite3", clock=clock.now, durable=False)
    )


@pytest.mark.slow
def test_a_pipelined_batch_of_1000_survives_a_misbehaving_server(tmp_path: Path) -> None:
    """This test ensures the same promises when messages overlap on the connection (no rate limit)."""
    run_fault_scenario(
        lambda clock: SQLiteOutbox(tmp_path / "outbox.sqlite3", clock=clock.now, durable=False),
        pipelining=True,
    )
