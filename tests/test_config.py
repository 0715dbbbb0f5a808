"""Configuration: validated once, unknown keys named, secrets kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbill._config import Config, DispatchSettings
from mailbill.errors import ConfigurationError


def test_from_mapping_reads_transports_and_dispatch() -> None:
    """This test ensures that a complete mapping becomes the matching Config."""
    cfg = Config.from_mapping(
        {
            "outbox": "sqlite:///tmp/x.db",
            "transports": {
                "office": {"url": "smtp://a@smtp.example.com:587", "rates": ["30/minute", "10000/day"]},
                "drop": {"url": "file:///tmp/pickup"},
            },
            "dispatch": {"poll_interval": 5, "batch_size": 10},
        }
    )
    assert cfg.outbox == "sqlite:///tmp/x.db"
    assert [t.name for t in cfg.transports] == ["office", "drop"]
    assert cfg.transports[0].rates == ("30/minute", "10000/day")
    assert cfg.dispatch == DispatchSettings(poll_interval=5.0, batch_size=10)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"outbx": "x"}, "'outbx'"),
        ({"transports": {"a": {"url": "smtp://h", "pasword_env": "X"}}}, "transports.a"),
        ({"transports": {"a": {}}}, "transports.a.url"),
        ({"transports": {"a": {"url": "smtp://h", "rates": [30]}}}, "transports.a.rates"),
        ({"dispatch": {"poll_interval": -1}}, "dispatch.poll_interval"),
        ({"dispatch": {"batch_size": True}}, "dispatch.batch_size"),
        ({"dispatch": {"speed": 1}}, "'speed'"),
        ({"outbox": 3}, "config.outbox"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], fragment: str) -> None:
    """This test ensures that every kind of bad setting raises and says where."""
    with pytest.raises(ConfigurationError, match=fragment.replace(".", r"\.")):
        Config.from_mapping(data)


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test ensures that passwords are read from the named variable and never shown."""
    cfg = Config.from_mapping(
        {"transports": {"o": {"url": "smtp://u:hunter2@h:587", "password_env": "MB_PW"}}}
    )
    settings = cfg.transports[0]
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in repr(cfg)
    with pytest.raises(ConfigurationError, match="MB_PW"):
        settings.secret("password")
    monkeypatch.setenv("MB_PW", "s3cret")
    assert settings.secret("password") == "s3cret"
    assert settings.secret("token") is None


def test_from_file(tmp_path: Path) -> None:
    """This test ensures that TOML files load, and broken ones name the file."""
    good = tmp_path / "mailbill.toml"
    good.write_text('outbox = "memory:"\n[transports.drop]\nurl = "file:///tmp/x"\n', encoding="utf-8")
    assert Config.from_file(good).transports[0].url == "file:///tmp/x"
    bad = tmp_path / "bad.toml"
    bad.write_text("outbox = \n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"bad\.toml"):
        Config.from_file(bad)
    with pytest.raises(ConfigurationError, match=r"missing\.toml"):
        Config.from_file(tmp_path / "missing.toml")
