"""The command line, run in-process against a real SQLite outbox made by the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbill._cli import main
from mailbill.outbox import SQLiteOutbox, Status, outbox_from_url


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
    assert main(["--outbox", url, "show", "invoice/2024/1001"]) == 0
    shown = capsys.readouterr().out
    with outbox_from_url(url) as outbox:
        item = outbox.get_by_key("invoice/2024/1001")
    subject = json.loads(item.headers)["subject"]
    assert f"  subject {subject}\n" in shown
    assert "  from " in shown


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


def test_preview_renders_a_template_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This test ensures that preview picks the language by fallback and shows missing fields."""
    folder = tmp_path / "templates" / "invoice" / "de"
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("Rechnung {{ number }}", encoding="utf-8")
    (folder / "body.txt").write_text("Guten Tag {{ name }}, {{ total|money('EUR') }}", encoding="utf-8")
    context = tmp_path / "fields.json"
    context.write_text('{"number": 7, "total": 1234.5}', encoding="utf-8")
    args = ["preview", "invoice", "--templates", str(tmp_path / "templates"), "--default-language", "de"]
    assert main([*args, "--language", "de-CH", "--context", str(context)]) == 0
    out = capsys.readouterr().out
    assert "template invoice/de" in out
    assert "Subject: Rechnung 7" in out
    assert "[missing: name]" in out
    assert "1’234.50" in out  # Swiss formats for a de-CH reader of the German text
    assert main([*args, "--context", str(tmp_path / "nope.json")]) == 2


def test_mailer_send_one_document_now(tmp_path: Path) -> None:
    """This test ensures that Mailer.send e-mails one document at once and keeps it in the outbox."""
    from mailbill import Document, Mailer, Party, SenderCascade, fixed
    from mailbill.templates import MappingLoader, Templates
    from mailbill.testing import MemoryTransport

    transport = MemoryTransport()
    mailer = Mailer(
        SQLiteOutbox(tmp_path / "o.db"),
        templates=Templates(MappingLoader({("welcome", "en"): {"subject": "Welcome", "text": "Hi"}})),
        senders=SenderCascade([fixed("portal@example.com")]),
        transports=transport,
    )
    doc = Document("welcome", "user/1/welcome", recipients=(Party("U", "u@example.com"),))
    item = mailer.send(doc)
    assert item.status is Status.SENT
    assert mailer.send(doc).id == item.id  # not sent twice
    assert len(transport.outbox) == 1
