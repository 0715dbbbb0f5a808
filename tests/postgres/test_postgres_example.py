"""The PostgreSQL example runs: with a server it shows rollback and commit; without one it says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "postgres_transactional_outbox.py"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.postgres
def test_example_runs_against_postgres(pg_dsn: str) -> None:
    """This test ensures that the example queues nothing on rollback and sends both mails after commit."""
    result = _run({**os.environ, "MAILBILL_TEST_POSTGRES": pg_dsn})
    assert result.returncode == 0, result.stderr
    assert "outbox holds 0 items" in result.stdout
    assert "dispatched: 2 sent" in result.stdout


def test_example_without_postgres_explains_and_exits_0() -> None:
    """This test ensures that without MAILBILL_TEST_POSTGRES the example says what it needs and exits 0."""
    env = {k: v for k, v in os.environ.items() if k != "MAILBILL_TEST_POSTGRES"}
    result = _run(env)
    assert result.returncode == 0, result.stderr
    assert "needs PostgreSQL" in result.stdout
