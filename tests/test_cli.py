"""The command line, run in-process against a real SQLite outbox made by the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbill._cli import main
from mailbill.outbox import SQLiteOutbox, Status


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--dir", str(folder), "--rate", "1000/second"]) == 0
    return folder


def test_demo_sends_five_and_puts_three_on_paper(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This test ensures that the README's demo does what it prints: 5 handed off, 3 on paper."""
    with SQLiteOutbox(demo_dir / "outbox.db") as outbox:
        counts = outbox.counts()
    assert counts[Status.HANDED_OFF] == 5
    assert counts[Status.PAPER] == 3
    assert len(list((demo_dir / "pickup").rglob("*.eml"))) == 5


def test_status_list_and_show(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This test ensures that the inspection commands print the outbox's real content."""
    url = f"sqlite:///{demo_dir / 'outbox.db'}"
    capsys.readouterr()
    assert main(["--outbox", url, "status"]) == 0
    out = capsys.readouterr().out
    assert "paper       3" in out
    assert main(["--outbox", url, "list", "--status", "paper"]) == 0
    assert capsys.readouterr().out.count("paper") == 3
    assert main(["--outbox", url, "show", "invoice/2024/1008"]) == 0
    shown = capsys.readouterr().out
    assert "opted_out" in shown
    assert "Decision:" in shown
    assert main(["--outbox", url, "show", "invoice/none"]) == 3


def test_resend_keeps_history_and_dispatch_sends_it(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """This test ensures that resend adds a version and dispatch (from a config file) sends it."""
    db = demo_dir / "outbox.db"
    config = tmp_path / "mailbill.toml"
    config.write_text(
        f'outbox = "sqlite:///{db}"\n[transports.default]\nurl = "file://{tmp_path / "drop"}"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "resend", "invoice/2024/1001"]) == 0
    assert "version 2" in capsys.readouterr().out
    assert main(["--config", str(config), "dispatch"]) == 0
    assert "1 handed_off" in capsys.readouterr().out
    assert len(list((tmp_path / "drop").rglob("*.eml"))) == 1


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This test ensures that bad settings give exit code 2 and a message, not a traceback."""
    assert main(["--outbox", "ftp://nowhere", "status"]) == 2
    assert "sqlite:///" in capsys.readouterr().err
    assert main(["--outbox", f"sqlite:///{tmp_path / 'o.db'}", "release"]) == 2
    assert main(["--outbox", f"sqlite:///{tmp_path / 'o.db'}", "dispatch"]) == 2
