"""The command line against a PostgreSQL outbox: status and dispatch with shared limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbill import NewItem, PostgresOutbox, Status
from mailbill._cli import main


def test_cli_dispatches_from_postgres(
    pg_dsn: str, pg_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """This test ensures that `mailbill --outbox postgresql://... dispatch` sends released items once."""
    url = f"{pg_dsn}?schema={pg_schema}" if "?" not in pg_dsn else f"{pg_dsn}&schema={pg_schema}"
    with PostgresOutbox(pg_dsn, schema=pg_schema) as outbox:
        for n in range(3):
            outbox.add(
                NewItem(
                    key=f"cli/{n}",
                    message=b"Subject: x\r\nFrom: a@example.com\r\nTo: b@example.com\r\n\r\nbody\r\n",
                    mail_from="a@example.com",
                    recipients=("b@example.com",),
                    message_id=f"<cli{n}@example.com>",
                    status=Status.RELEASED,
                )
            )
    config = tmp_path / "mailbill.toml"
    config.write_text(
        f'[transports.default]\nurl = "file://{tmp_path / "drop"}"\nrates = ["100/second"]\n',
        encoding="utf-8",
    )
    assert main(["--outbox", url, "--config", str(config), "dispatch"]) == 0
    assert "3 handed_off" in capsys.readouterr().out
    assert main(["--outbox", url, "--config", str(config), "dispatch"]) == 0
    assert "nothing due" in capsys.readouterr().out
    assert len(list((tmp_path / "drop").rglob("*.eml"))) == 3
    assert main(["--outbox", url, "status"]) == 0
    assert "handed_off  3" in capsys.readouterr().out
