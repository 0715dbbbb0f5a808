"""The outbox and dispatcher examples run and exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("name", ["dunning_run.py", "select_and_send.py"])
def test_example_runs(name: str) -> None:
    """This test ensures that the example script runs to the end without error."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "sent" in result.stdout
