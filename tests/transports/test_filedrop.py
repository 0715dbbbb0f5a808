"""FileDropTransport: atomic files, safe names, the IIS/Exchange pickup format, date folders."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transport_support import make_message

from mailbill import (
    AccountError,
    Address,
    ConfigurationError,
    FileDropTransport,
    OutgoingMessage,
    TransientDeliveryError,
    UnsupportedFeatureError,
)

FIXED = datetime(2026, 11, 24, 8, 15, 0, 123456, tzinfo=UTC)


def test_receipt_names_the_file(tmp_path: Path, message: OutgoingMessage) -> None:
    """This test ensures that the receipt is a hand-off naming the file, which holds the message."""
    receipt = FileDropTransport(tmp_path).send(message)
    assert receipt.handed_off
    assert receipt.location is not None
    path = Path(receipt.location)
    assert path.parent == tmp_path
    assert path.read_bytes() == message.as_bytes()
    assert re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{32}\.eml", path.name)


@given(subject=st.text(min_size=0, max_size=40).filter(lambda s: "\r" not in s and "\n" not in s))
def test_file_names_never_come_from_the_message(
    tmp_path_factory: pytest.TempPathFactory, subject: str
) -> None:
    """This test ensures that no message content (subject, ids) can steer the file's name or folder."""
    try:
        message = make_message(subject=subject, message_id="<../../etc/passwd@example.com>")
    except Exception:  # a subject the model itself refuses is out of scope here
        return
    folder = tmp_path_factory.mktemp("drop")
    receipt = FileDropTransport(folder).send(message)
    assert receipt.location is not None
    assert Path(receipt.location).parent == folder
    assert re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{32}\.eml", Path(receipt.location).name)


def test_iis_pickup_format(tmp_path: Path) -> None:
    """This test ensures that pickup mode writes X-Sender and an X-Receiver per recipient (Bcc too) first."""
    message = make_message(
        bcc=Address.parse_list("archive@example.com"), envelope_sender=Address.parse("bounce@example.com")
    )
    receipt = FileDropTransport(tmp_path, iis_pickup=True).send(message)
    assert receipt.location is not None
    data = Path(receipt.location).read_bytes()
    head = b"X-Sender: bounce@example.com\r\n" + b"".join(
        b"X-Receiver: " + r.encode() + b"\r\n" for r in message.recipients
    )
    assert data == head + message.as_bytes()
    assert b"X-Receiver: archive@example.com\r\n" in data
    assert b"Bcc" not in message.as_bytes()


def test_date_subfolders(tmp_path: Path, message: OutgoingMessage) -> None:
    """This test ensures that subfolders by date are created from the injected clock."""
    transport = FileDropTransport(tmp_path, subfolders="%Y/%m-%d", clock=lambda: FIXED)
    receipt = transport.send(message)
    assert receipt.location is not None
    assert Path(receipt.location).parent == tmp_path / "2026" / "11-24"
    assert Path(receipt.location).name.startswith("20261124T081500123456Z-")


@pytest.mark.parametrize("pattern", ["../%Y", "/abs/%Y", ""])
def test_subfolders_must_stay_inside(tmp_path: Path, pattern: str) -> None:
    """This test ensures that a subfolder pattern leaving the folder is refused at construction."""
    with pytest.raises(ConfigurationError, match="subfolders"):
        FileDropTransport(tmp_path, subfolders=pattern)


def test_missing_folder(tmp_path: Path) -> None:
    """This test ensures that a missing folder is created, or refused with create=False."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        FileDropTransport(tmp_path / "nope", create=False)
    FileDropTransport(tmp_path / "made" / "deep")
    assert (tmp_path / "made" / "deep").is_dir()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="not a folder"):
        FileDropTransport(tmp_path / "file")


def test_files_are_private_by_default(tmp_path: Path, message: OutgoingMessage) -> None:
    """This test ensures that invoices on disk are readable only by their owner unless configured."""
    receipt = FileDropTransport(tmp_path).send(message)
    assert receipt.location is not None
    assert Path(receipt.location).stat().st_mode & 0o777 == 0o600
    shared = FileDropTransport(tmp_path, file_mode=0o644).send(message)
    assert shared.location is not None
    assert Path(shared.location).stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_unwritable_folder_is_an_account_error(tmp_path: Path, message: OutgoingMessage) -> None:
    """This test ensures that a folder without write permission stops the account, leaving no files."""
    folder = tmp_path / "ro"
    folder.mkdir()
    transport = FileDropTransport(folder)
    folder.chmod(0o500)
    try:
        with pytest.raises(AccountError, match="cannot write"):
            transport.send(message)
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_failed_write_leaves_no_partial_file(
    tmp_path: Path, message: OutgoingMessage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This test ensures that an I/O error mid-write removes the temporary file and is transient."""

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(TransientDeliveryError, match="No space left"):
        FileDropTransport(tmp_path).send(message)
    assert list(tmp_path.iterdir()) == []


def test_bcc_without_envelope_is_refused(tmp_path: Path) -> None:
    """This test ensures that a plain file drop refuses Bcc rather than silently dropping those recipients."""
    message = make_message(bcc=Address.parse_list("archive@example.com"))
    transport = FileDropTransport(tmp_path)
    assert not transport.capabilities.bcc
    with pytest.raises(UnsupportedFeatureError, match="Bcc"):
        transport.send(message)
    assert list(tmp_path.iterdir()) == []
    assert FileDropTransport(tmp_path, iis_pickup=True).capabilities.bcc
