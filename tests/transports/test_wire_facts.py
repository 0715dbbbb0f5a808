"""What the composer found about the bytes (CRLF only, lines starting with a dot) reaches SMTP safely.

The fact travels with a composed message and with its outbox item (see
``mailbill._wire``); bytes that are not the ones it was found for are checked
in full, so a changed or hand-made item is still dot-stuffed and CRLF-fixed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbill import Address, Dispatcher, NewItem, OutgoingMessage, SMTPTransport, SQLiteOutbox, Status
from mailbill._rebuild import message_from_item
from mailbill._wire import known_dots
from mailbill.outbox import MemoryOutbox
from mailbill.transports._pipelining import dot_stuff
from smtp_server import SMTPServer

SENDER = Address("faktura@example.se", "Åsa Öberg")
TO = (Address("kund@example.com", "Märta"),)
CSS = "<style>\n.footer{color:#777}\n</style><p>" + "Grüße " * 30 + ".</p>"


def composed(n: int, *, text: str, html: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        sender=SENDER, to=TO, subject=f"Rechnung {n}", text=text, html=html, business_key=f"k/{n}"
    )


def read_back(item_message: OutgoingMessage, **changes: object) -> OutgoingMessage:
    outbox = MemoryOutbox()
    new = replace(NewItem.from_message(item_message), **changes)  # type: ignore[arg-type]
    stored = outbox.get(outbox.add(new).id)
    return message_from_item(stored, bodies=False)


def test_an_item_brings_the_fact_back_only_for_its_own_bytes() -> None:
    """This test ensures that the stored fact is used for the composed bytes and ignored for any other."""
    dotted = composed(1, text="Summe:\n.50 EUR offen\n", html=CSS)
    plain = composed(2, text="Summe: 0,50 EUR\n")
    assert known_dots(read_back(dotted)) is True
    assert known_dots(read_back(plain)) is False
    # the same headers (and fact) with other bytes: a bare LF and a smuggled end of data
    other = plain.as_bytes().replace(b"0,50 EUR\r\n", b"0,50 EUR\n.\nMAIL FROM:<x@evil.example>\n")
    assert known_dots(read_back(plain, message=other)) is None
    assert known_dots(read_back(plain, headers="")) is None  # an item made by hand


@settings(max_examples=60)
@given(data=st.lists(st.sampled_from([b"a", b".", b"\r\n", b"\n", b"\r", b"\r\n.", b"\n.\n"]), max_size=30))
def test_the_fact_changes_nothing_on_the_wire(data: list[bytes]) -> None:
    """This test ensures that dot_stuff with a true fact gives what the full check gives."""
    raw = b"".join(data)
    clean = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    dots = clean.startswith(b".") or b"\n." in clean
    assert dot_stuff(clean, dots=dots) == dot_stuff(clean) == dot_stuff(raw)


@pytest.mark.parametrize("pipelining", [True, False])
def test_dispatched_items_arrive_exactly_with_dots_and_hand_made_bytes(
    tmp_path: Path, pipelining: bool
) -> None:
    """This test ensures that composed items with dot lines and a changed item both arrive as meant."""
    messages = [
        composed(1, text="Summe:\n.50 EUR offen\n..\n.\n", html=CSS),
        composed(2, text="Keine Punkte hier.\n", html="<p>" + "Grüße " * 40 + "</p>"),
    ]
    changed = composed(3, text="Summe: 3 EUR\n")
    smuggled = changed.as_bytes().replace(b"3 EUR\r\n", b"3 EUR\n.\nRSET\n")
    with SMTPServer() as server, SQLiteOutbox(tmp_path / "outbox.sqlite3", durable=False) as outbox:
        outbox.add_many([NewItem.from_message(m, status=Status.RELEASED) for m in messages])
        outbox.add(replace(NewItem.from_message(changed, status=Status.RELEASED), message=smuggled))
        transport = SMTPTransport(server.host, port=server.port, security="none", pipelining=pipelining)
        assert Dispatcher(outbox, transport).run_once().sent == 3
        received = [m.data for m in server.messages]
    assert received[:2] == [m.as_bytes() for m in messages]
    # the changed bytes were checked in full: CRLF line ends, the lone dot stuffed, one message
    assert received[2] == smuggled.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
