"""The "write your own transport" example runs and does what the docs say."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_transport.py"


def test_custom_transport_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """This test ensures that examples/custom_transport.py runs to the end and delivers its message."""
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "delivered <" in out
    assert "Maildir" in out
    assert "MemoryTransport" in out
