"""The README's promises: two quick-start commands, the one CI runs, and code that parses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start_block() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the Quick start section has no ```sh block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    """This test ensures that the Quick start block holds exactly two command lines."""
    lines = _quick_start_block()
    assert len(lines) == 2
    assert "mailbill demo" in lines[0]
    assert "nox -s tests" in lines[1]


def test_ci_runs_the_readme_test_command() -> None:
    """This test ensures that .ci/run runs the README's second command, verbatim."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _quick_start_block()[1] in ci.splitlines()


def test_python_examples_in_readme_parse() -> None:
    """This test ensures that every python block of the README is valid Python."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    assert blocks
    for block in blocks:
        ast.parse(block)
