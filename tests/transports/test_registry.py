"""transport_from_url: built-in schemes, options, errors that name the culprit, entry points."""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import Any

import pytest

from mailbill import (
    BaseTransport,
    ConfigurationError,
    FileDropTransport,
    MemoryTransport,
    OutlookTransport,
    SMTPTransport,
    transport_from_url,
)
from mailbill.transports import mask_url


def test_smtp_url() -> None:
    """This test ensures that an smtp:// URL sets host, port, security, user and options."""
    t = transport_from_url(
        "smtp://billing%40example.com@smtp.office365.com:587?security=starttls&timeout=12.5"
        "&max_messages_per_connection=50&name=m365",
        oauth2_token=lambda: "token",
    )
    assert isinstance(t, SMTPTransport)
    assert (t.host, t.port, t.security, t.username) == (
        "smtp.office365.com",
        587,
        "starttls",
        "billing@example.com",
    )
    assert (t.timeout, t.max_messages_per_connection, t.name) == (12.5, 50, "m365")


def test_smtps_url_and_password_in_url_is_masked() -> None:
    """This test ensures that smtps:// means implicit TLS on 465 and a URL password never shows in repr."""
    t = transport_from_url("smtps://user:p%40ss-w0rd@mail.example.com")
    assert isinstance(t, SMTPTransport)
    assert (t.port, t.security) == (465, "tls")
    assert "p@ss" not in repr(t)
    assert "w0rd" not in repr(t)
    assert mask_url("smtps://user:p%40ss-w0rd@mail.example.com") == "smtps://user:***@mail.example.com"


def test_file_url(tmp_path: Path) -> None:
    """This test ensures that file:/// URLs make a FileDropTransport with its options."""
    t = transport_from_url(f"{tmp_path.as_uri()}/pickup?iis_pickup=yes&subfolders=%25Y-%25m")
    assert isinstance(t, FileDropTransport)
    assert t.directory == tmp_path / "pickup"
    assert t.iis_pickup
    assert t.subfolders == "%Y-%m"


def test_outlook_and_memory_urls() -> None:
    """This test ensures that outlook: and memory: URLs make their transports."""
    outlook = transport_from_url("outlook:?mode=draft&account=billing@example.com")
    assert isinstance(outlook, OutlookTransport)
    assert (outlook.mode, outlook.account) == ("draft", "billing@example.com")
    memory = transport_from_url("memory:?name=preview")
    assert isinstance(memory, MemoryTransport)
    assert memory.name == "preview"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("gopher://host", "'gopher'"),
        ("smtp://host?securty=tls", "'securty'"),
        ("smtp://host?security=ssl", "'ssl'"),
        ("smtp://host?timeout=soon", "'timeout'"),
        ("smtp://host?allow_insecure_auth=maybe", "'allow_insecure_auth'"),
        ("smtps://host?security=starttls", "'starttls'"),
        ("outlook:?mode=print", "'print'"),
        ("memory:?colour=red", "'colour'"),
        ("smtp://:25", "names no host"),
        ("not a url", "not a transport URL"),
    ],
)
def test_bad_urls_name_the_problem(url: str, named: str) -> None:
    """This test ensures that an unknown scheme, option or bad value is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=named):
        transport_from_url(url)


def test_error_messages_mask_the_password() -> None:
    """This test ensures that a configuration error about a URL does not repeat its password."""
    with pytest.raises(ConfigurationError) as info:
        transport_from_url("smtp://user:topsecret@host?bogus=1")
    assert "topsecret" not in str(info.value)


def test_unknown_keyword_is_a_configuration_error() -> None:
    """This test ensures that a misspelt keyword option is a ConfigurationError, not a TypeError."""
    with pytest.raises(ConfigurationError, match="pasword"):
        transport_from_url("smtp://user@host", pasword="x")


class _EchoTransport(BaseTransport):
    """A third-party transport for the entry-point test."""

    def __init__(self, url: str, **options: Any) -> None:
        self.name = "echo"
        self.url = url
        self.options = options


def test_entry_point_plugins(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """This test ensures that a scheme registered in the mailbill.transports entry-point group is used."""
    entry = importlib.metadata.EntryPoint(
        name="echo", value=f"{__name__}:_EchoTransport", group="mailbill.transports"
    )

    def fake_entry_points(**query: str) -> list[importlib.metadata.EntryPoint]:
        if query == {"group": "mailbill.transports", "name": "echo"}:
            return [entry]
        return []

    monkeypatch.setattr("mailbill.transports._registry.entry_points", fake_entry_points)
    caplog.set_level(logging.DEBUG)
    t = transport_from_url("echo://somewhere?x=1", region="eu")
    assert isinstance(t, _EchoTransport)
    assert (t.url, t.options) == ("echo://somewhere?x=1", {"region": "eu"})
    with pytest.raises(ConfigurationError, match="'nothere'"):
        transport_from_url("nothere://x")
