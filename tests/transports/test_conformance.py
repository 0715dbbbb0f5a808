"""One conformance suite for every transport: memory, file drop, SMTP (aiosmtpd) and Outlook (fake).

Each transport runs behind a small harness that sends through it and reads back
what arrived: the bytes (memory, file, SMTP) or the Outlook item's fields.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from transport_support import TLSSetup, make_message

from mailbill import (
    Address,
    Attachment,
    BaseTransport,
    FileDropTransport,
    MemoryTransport,
    OutgoingMessage,
    OutlookTransport,
    SMTPTransport,
)
from mailbill.testing import FakeMailItem, FakeOutlook
from pipelining_server import PipeliningServer
from smtp_server import SMTPServer

Person = tuple[str, str]  # (display name, address)


@dataclass(frozen=True)
class Fields:
    """What a recipient sees, independent of the wire form."""

    subject: str
    to: tuple[Person, ...]
    cc: tuple[Person, ...]
    text: str | None
    html: str | None
    attachments: tuple[tuple[str, bytes], ...]


def _body(text: str | None) -> str | None:
    return None if text is None else text.replace("\r\n", "\n").rstrip("\n")


def expected_fields(message: OutgoingMessage, *, with_text: bool = True) -> Fields:
    """The fields of ``message`` as composed."""
    return Fields(
        subject=message.subject,
        to=tuple((a.name, a.email) for a in message.to),
        cc=tuple((a.name, a.email) for a in message.cc),
        text=_body(message.text) if with_text else None,
        html=_body(message.html),
        attachments=tuple((a.filename, a.content) for a in message.attachments),
    )


def fields_from_bytes(data: bytes) -> Fields:
    """Parse composed bytes back into the fields a mail program shows."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    # SMTPUTF8 messages carry raw UTF-8 headers, which the bytes parser leaves escaped.
    headers = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert isinstance(headers, EmailMessage)

    def people(header: str) -> tuple[Person, ...]:
        value = headers[header]
        return tuple((a.display_name, a.addr_spec) for a in value.addresses) if value else ()

    def part(kind: str) -> str | None:
        found = parsed.get_body(preferencelist=(kind,))
        return (
            _body(found.get_content()) if found is not None and found.get_content_subtype() == kind else None
        )

    attachments = tuple(
        (str(p.get_filename()), p.get_payload(decode=True)) for p in parsed.iter_attachments()
    )
    return Fields(
        str(parsed["subject"]), people("to"), people("cc"), part("plain"), part("html"), attachments
    )


def fields_from_outlook(item: FakeMailItem) -> Fields:
    """Read an Outlook item's fields; Outlook makes the plain text itself when the body is HTML."""

    def people(kind: int) -> tuple[Person, ...]:
        found = []
        for index in range(1, item.Recipients.Count + 1):
            recipient = item.Recipients.Item(index)
            if recipient.Type == kind:
                address = Address.parse(recipient.Name)
                found.append((address.name, address.email))
        return tuple(found)

    is_html = item.BodyFormat == 2
    return Fields(
        subject=item.Subject,
        to=people(1),
        cc=people(2),
        text=None if is_html else _body(item.Body),
        html=_body(item.HTMLBody) if is_html else None,
        attachments=tuple((a.FileName, a.content) for a in item.Attachments),
    )


class Harness:
    """Sends through one transport and reads back what arrived."""

    name = "base"
    preserves_bytes = True

    def transport(self) -> BaseTransport:
        raise NotImplementedError

    def arrived_bytes(self) -> list[bytes]:
        raise NotImplementedError

    def arrived_fields(self) -> list[Fields]:
        return [fields_from_bytes(data) for data in self.arrived_bytes()]

    def connections(self) -> int:
        return 1


class MemoryHarness(Harness):
    name = "memory"

    def __init__(self) -> None:
        self._transport = MemoryTransport()

    def transport(self) -> BaseTransport:
        return self._transport

    def arrived_bytes(self) -> list[bytes]:
        return list(self._transport.sent_bytes)


class FileHarness(Harness):
    name = "file"

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def transport(self) -> BaseTransport:
        return FileDropTransport(self._folder)

    def arrived_bytes(self) -> list[bytes]:
        assert not list(self._folder.glob(".*")), "a temporary file was left behind"
        return [p.read_bytes() for p in sorted(self._folder.glob("*.eml"))]


class SMTPHarness(Harness):
    name = "smtp"

    def __init__(self, server: SMTPServer, tls: TLSSetup | None = None) -> None:
        self.server = server
        self.tls = tls

    def transport(self) -> BaseTransport:
        if self.tls is None:
            return SMTPTransport(self.server.host, port=self.server.port, security="none", timeout=5)
        return SMTPTransport(
            self.server.host,
            port=self.server.port,
            security="tls",
            ssl_context=self.tls.client_context,
            timeout=5,
        )

    def arrived_bytes(self) -> list[bytes]:
        return [m.data for m in self.server.messages]

    def connections(self) -> int:
        return self.server.connections


class OutlookHarness(Harness):
    name = "outlook"
    preserves_bytes = False

    def __init__(self) -> None:
        self.outlook = FakeOutlook(accounts=["billing@example.com"])

    def transport(self) -> BaseTransport:
        return OutlookTransport(account="billing@example.com", outlook_factory=self.outlook.binding)

    def arrived_fields(self) -> list[Fields]:
        return [fields_from_outlook(item) for item in self.outlook.outbox]

    def connections(self) -> int:
        return self.outlook.applications


@pytest.fixture(params=["memory", "file", "smtp", "smtp-pipelining", "smtp-tls", "outlook"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each transport in turn, behind its harness."""
    kind: Any = request.param
    if kind == "smtp":
        with SMTPServer() as server:
            yield SMTPHarness(server)
    elif kind == "smtp-pipelining":
        with PipeliningServer() as server:
            yield SMTPHarness(server)
    elif kind == "smtp-tls":
        tls: TLSSetup = request.getfixturevalue("tls")
        with SMTPServer(tls_context=tls.server_context) as server:
            yield SMTPHarness(server, tls)
    elif kind == "file":
        yield FileHarness(tmp_path / "pickup")
    elif kind == "memory":
        yield MemoryHarness()
    else:
        yield OutlookHarness()


def test_what_arrives_is_what_was_composed(harness: Harness, message: OutgoingMessage) -> None:
    """This test ensures that a transport hands on exactly the composed message (bytes, or fields)."""
    with harness.transport() as transport:
        transport.send(message)
    if harness.preserves_bytes:
        assert harness.arrived_bytes() == [message.as_bytes()]
    expected = expected_fields(message, with_text=harness.preserves_bytes)
    assert harness.arrived_fields() == [expected]


def test_attachments_intact(harness: Harness) -> None:
    """This test ensures that binary and text attachments with non-ASCII names arrive byte-for-byte."""
    attachments = (
        Attachment.from_bytes(bytes(range(256)) * 300, "Übersicht 2026.bin"),
        Attachment.from_bytes(b"\r\n.\r\n..\r\nno newline at end", "punkte.txt"),
        Attachment.from_bytes(b"", "leer.dat"),
    )
    message = make_message(attachments=attachments)
    with harness.transport() as transport:
        transport.send(message)
    [arrived] = harness.arrived_fields()
    assert arrived.attachments == tuple((a.filename, a.content) for a in attachments)


def test_non_ascii_intact(harness: Harness) -> None:
    """This test ensures that non-ASCII subjects, names, bodies and mailboxes survive every transport."""
    message = make_message(
        to=Address.parse_list("Jürgen Groß <jürgen@example.de>"),
        cc=Address.parse_list("Ελένη <eleni@example.gr>"),
        subject="Mahnung: 3. Zahlungserinnerung: 東京 ✓",
        text="Sehr geehrter Herr Groß,\nbitte zahlen Sie 1.234,56 €.\n",
        html=None,
    )
    with harness.transport() as transport:
        receipt = transport.send(message)
    assert receipt.accepted == ("jürgen@example.de", "eleni@example.gr")
    assert harness.arrived_fields() == [expected_fields(message)]


def test_many_messages_over_one_connection(harness: Harness) -> None:
    """This test ensures that many messages through one open transport arrive in order over one connection."""
    messages = [make_message(subject=f"Rechnung {n}") for n in range(12)]
    with harness.transport() as transport:
        for message in messages:
            transport.send(message)
    assert [f.subject for f in harness.arrived_fields()] == [m.subject for m in messages]
    assert harness.connections() == 1


def test_send_many_yields_each_result_in_order(harness: Harness) -> None:
    """This test ensures that send_many sends every message once, in order, with one result each."""
    messages = [make_message(subject=f"Rechnung {n}") for n in range(12)]
    with harness.transport() as transport:
        results = list(transport.send_many(messages))
    assert [r.message for r in results] == messages
    assert [(r.error, r.receipt.message_id if r.receipt else None) for r in results] == [
        (None, m.message_id) for m in messages
    ]
    assert [f.subject for f in harness.arrived_fields()] == [m.subject for m in messages]
    assert harness.connections() == 1


def test_send_many_takes_messages_lazily(harness: Harness) -> None:
    """This test ensures that send_many takes a message from its input only when it is about to send it."""
    messages = [make_message(subject=f"Rechnung {n}") for n in range(3)]
    taken: list[int] = []

    def source() -> Iterator[OutgoingMessage]:
        for n, message in enumerate(messages):
            taken.append(n)
            yield message

    with harness.transport() as transport:
        results = transport.send_many(source())
        assert taken == []  # nothing happens before the first result is asked for
        first = next(results)
        assert first.message is messages[0]
        assert taken in ([0], [0, 1], [0, 1, 2])  # at most two ahead, to overlap them with the replies
        rest = list(results)
    assert [r.message for r in rest] == messages[1:]
    assert len(harness.arrived_fields()) == 3


def test_receipt_follows_the_contract(harness: Harness, message: OutgoingMessage) -> None:
    """This test ensures that every receipt names the message, the transport and the accepted recipients."""
    with harness.transport() as transport:
        receipt = transport.send(message)
    assert receipt.message_id == message.message_id
    assert receipt.transport == transport.name
    assert receipt.accepted == message.recipients
    assert receipt.refused == ()
    assert receipt.handed_off is (not transport.capabilities.delivers)
    assert transport.capabilities.preserves_bytes is harness.preserves_bytes


def test_usable_again_after_close(harness: Harness, message: OutgoingMessage) -> None:
    """This test ensures that a closed transport can be opened again, and sends lazily without open()."""
    transport = harness.transport()
    transport.send(message)
    transport.close()
    with transport:
        transport.send(message)
    transport.close()  # closing twice is harmless
    assert len(harness.arrived_fields()) == 2


def test_repr_names_the_transport(harness: Harness) -> None:
    """This test ensures that repr() shows the class and name, for logs."""
    transport = harness.transport()
    assert type(transport).__name__ in repr(transport)
    assert repr(transport.name) in repr(transport)
