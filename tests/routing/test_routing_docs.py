"""The routing how-to's code and the example script run as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from mailbill import Decision, PaperReason, Router, SenderCascade

ROOT = Path(__file__).resolve().parents[2]
HOWTO = ROOT / "docs" / "howto" / "seed-scenarios-routing.md"


def howto_blocks() -> list[str]:
    """The ```python blocks of the how-to, in order."""
    return re.findall(r"```python\n(.*?)```", HOWTO.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_howto_has_a_block_per_recipe() -> None:
    """This test ensures that the how-to still has its five recipes' code blocks to run."""
    assert len(howto_blocks()) == 5


@pytest.mark.parametrize("index", range(5))
def test_howto_block_runs(index: int) -> None:
    """This test ensures that each how-to recipe's code runs and builds working configuration."""
    namespace: dict[str, object] = {}
    exec(compile(howto_blocks()[index], f"{HOWTO.name}#{index}", "exec"), namespace)
    assert any(isinstance(v, Router | SenderCascade) for v in namespace.values())
    decision = namespace.get("decision")
    if decision is not None:
        assert isinstance(decision, Decision)
        assert decision.is_mail
        assert decision.sender is not None
        assert decision.sender.sender.address.email == "avier@lillastaden.example"


def test_example_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """This test ensures that examples/sender_cascade.py runs and prints its explanations."""
    namespace = runpy.run_path(str(ROOT / "examples" / "sender_cascade.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "rule 'office address'" in out
    assert "on paper, reason blocked" in out
    assert namespace["second"].paper_reason is PaperReason.BLOCKED
