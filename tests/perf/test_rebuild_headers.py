"""Reading back an outbox item for a byte transport: headers only, the same result as the full parse."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbill import Address, MemoryOutbox, NewItem, OutgoingMessage
from mailbill._rebuild import message_from_item

names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40
).filter(lambda s: s.strip() == s or not s.strip())
subjects = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=120)


def stored(message: OutgoingMessage) -> object:
    """The message as an outbox item with its bytes."""
    outbox = MemoryOutbox()
    return outbox.get(outbox.add(NewItem.from_message(message, key="k/1")).id)


def fields(message: OutgoingMessage) -> tuple[object, ...]:
    """What a transport may look at, apart from the bodies."""
    return (
        message.sender,
        message.to,
        message.cc,
        message.bcc,
        message.subject,
        message.mail_from,
        message.recipients,
        message.message_id,
        message.business_key,
        message.as_bytes(),
    )


@settings(max_examples=150)
@given(sender=names, to=names, cc=names, subject=subjects, keep_cc=st.booleans())
def test_headers_only_equals_full_parse(sender: str, to: str, cc: str, subject: str, keep_cc: bool) -> None:
    """This test ensures that the header-only read gives the same fields as the email package."""
    message = OutgoingMessage(
        sender=Address("billing@example.com", sender),
        to=(Address("anna@example.org", to), Address("bo@example.org", "Bo, Jr.")),
        cc=(Address("cc@example.net", cc),),
        bcc=(Address("hidden@example.net"),),
        subject=subject,
        text="Body\n",
        html="<p>Body</p>",
    )
    item = stored(message)
    allowed = None if keep_cc else ["anna@example.org", "bo@example.org", "hidden@example.net"]
    full = message_from_item(item, recipients=allowed)  # type: ignore[arg-type]
    fast = message_from_item(item, recipients=allowed, bodies=False)  # type: ignore[arg-type]
    assert fields(fast) == fields(full)
    assert not fast.text
    assert full.text.strip() == "Body"


def test_non_ascii_address_and_envelope_sender() -> None:
    """This test ensures that SMTPUTF8 addresses and a separate envelope sender survive the header read."""
    message = OutgoingMessage(
        sender=Address("faktura@bostäder.example.se", "Åsa Öberg, Bostäder AB"),
        to=(Address("jürgen@müller.example", "Jürgen Müller"),),
        subject="Rechnung \u2013 März",
        text="x",
        envelope_sender=Address("bounces@example.com"),
    )
    fast = message_from_item(stored(message), bodies=False)  # type: ignore[arg-type]
    # (the full parse cannot read raw UTF-8 addresses back; the header-only read can)
    assert fields(fast)[:3] == (message.sender, message.to, message.cc)
    assert fields(fast)[4:8] == fields(message)[4:8]
    assert fast.as_bytes() == message.as_bytes()


def test_full_read_back_keeps_utf8_addresses_bodies_and_attachments() -> None:
    """This test ensures that the read-back for Outlook has SMTPUTF8 addresses, bodies and attachments."""
    from mailbill import Attachment

    message = OutgoingMessage(
        sender=Address("faktura@bostäder.example.se", "Åsa Öberg"),
        to=(Address("jürgen@müller.example", "Jürgen Müller"),),
        subject="Rechnung \u2013 März",
        text="Grüße\n",
        html="<p>Grüße <img src='cid:logo@x.example'></p>",
        attachments=(
            Attachment.from_bytes(b"a;b\n", "räkning.csv"),
            Attachment.from_bytes(b"\x89PNG\r\n", "logo.png", inline=True, content_id="logo@x.example"),
        ),
    )
    full = message_from_item(stored(message))  # type: ignore[arg-type]
    assert fields(full)[:3] == (message.sender, message.to, message.cc)
    assert full.text == "Grüße\n"
    assert full.html is not None
    assert "Grüße" in full.html
    got = {(a.filename, a.content, a.inline, a.content_id) for a in full.attachments}
    assert got == {
        ("räkning.csv", b"a;b\n", False, None),
        ("logo.png", b"\x89PNG\r\n", True, "logo@x.example"),
    }
    assert full.as_bytes() == message.as_bytes()


def _without_stored_headers(item: object, headers: str = "") -> object:
    """The same item as an older mailbill (or a hand-made NewItem) stored it: no header JSON."""
    from dataclasses import replace

    return replace(item, headers=headers)  # type: ignore[type-var]


@settings(max_examples=100)
@given(sender=names, to=names, cc=names, reply=names, subject=subjects)
def test_stored_headers_give_what_the_bytes_say(
    sender: str, to: str, cc: str, reply: str, subject: str
) -> None:
    """This test ensures that the headers stored with an item equal those parsed from its bytes."""
    message = OutgoingMessage(
        sender=Address("billing@example.com", sender),
        to=(Address("anna@example.org", to),),
        cc=(Address("cc@example.net", cc),),
        bcc=(Address("hidden@example.net"),),
        reply_to=(Address("office@example.com", reply),),
        subject=subject,
        text="Body\n",
        business_key="k/1",
    )
    item = stored(message)
    assert item.headers  # type: ignore[attr-defined]
    from_json = message_from_item(item, bodies=False)  # type: ignore[arg-type]
    from_bytes = message_from_item(_without_stored_headers(item), bodies=False)  # type: ignore[arg-type]
    full = message_from_item(item)  # type: ignore[arg-type]
    assert fields(from_json) == fields(from_bytes) == fields(message)
    assert from_json.reply_to == full.reply_to == message.reply_to


def test_damaged_stored_headers_fall_back_to_the_bytes() -> None:
    """This test ensures that header JSON that cannot be read sends the read-back to the bytes."""
    message = OutgoingMessage(
        sender=Address("billing@example.com", "Billing"),
        to=(Address("anna@example.org", "Anna Åberg"),),
        subject="Faktura 1001",
        text="x",
        business_key="k/1",
    )
    item = stored(message)
    for damaged in (
        "{",
        "[]",
        '{"v": 99}',
        '{"v": 1, "from": 3}',
        '{"v": 1, "from": ["not an address", ""]}',
    ):
        fast = message_from_item(_without_stored_headers(item, damaged), bodies=False)  # type: ignore[arg-type]
        assert fields(fast) == fields(message)


def test_the_headers_are_stored_by_every_outbox(tmp_path: object) -> None:
    """This test ensures that SQLite keeps the header JSON, and a resend carries it over."""
    from pathlib import Path

    from mailbill import SendReceipt, SQLiteOutbox, Status

    message = OutgoingMessage(
        sender=Address("billing@example.com", "Billing"),
        to=(Address("anna@example.org", "Anna Åberg"),),
        subject="Faktura 1001 – März",
        text="x",
    )
    new = NewItem.from_message(message, key="k/1", status=Status.RELEASED)
    with SQLiteOutbox(Path(str(tmp_path)) / "o.db") as outbox:
        added = outbox.add(new)
        assert outbox.get(added.id).headers == new.headers
        (claimed,) = outbox.claim(1, lease_seconds=60)
        assert message_from_item(claimed, bodies=False).subject == "Faktura 1001 – März"
        outbox.mark_sent(claimed.id, SendReceipt(message.message_id, "t", ("anna@example.org",)))
        assert outbox.resend("k/1").headers == new.headers
