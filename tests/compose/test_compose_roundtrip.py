"""Composed messages parse back (``policy.default``) to exactly what went in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from compose_helpers import body, check_wire_form, make_pdf, nl, parse

from mailbill import Address, Attachment, OutgoingMessage
from mailbill._compose import reference_bytes, to_bytes

Producer = Callable[[OutgoingMessage], bytes]

PRODUCERS: dict[str, Producer] = {
    "fast": to_bytes,
    "stdlib": reference_bytes,
}

# (language, sender name, recipient name, subject, text, attachment file name)
SAMPLES = [
    (
        "sv",
        "Åsa Öberg",
        "Märta Ängström",
        "Faktura 1001 – förfaller den 30 juni",
        "Hej Märta!\nBelopp: 1 234,50 kr",
        "Faktura_1001_Ängström.pdf",
    ),
    (
        "de",
        "Jürgen Weiß",
        "Müller, Hans",
        "Rechnung Nr. 42 für Größe Straße",
        "Sehr geehrter Herr Müller,\nGrüße",
        "Rechnung_Größe.pdf",
    ),
    (
        "fr",
        "Hélène Dupré",
        "François Çelik",
        "Facture n° 7 – échéance dépassée",
        "Bonjour François,\nÀ régler avant l'été.",
        "facture_été_n°7.pdf",
    ),
    (
        "nl",
        "Geert van 't Hooft",
        "Zoë IJsselmeer",
        "Huurverhoging per één januari",
        "Beste Zoë,\nDe huur wordt € 845,00.",
        "huur_één_2025.pdf",
    ),
    (
        "el",
        "Νίκος Παπαδόπουλος",
        "Ελένη Γεωργίου",
        "Τιμολόγιο 12 – λήξη πληρωμής",
        "Αγαπητή Ελένη,\nΕυχαριστούμε.",
        "τιμολόγιο_12.pdf",
    ),
    (
        "ja",
        "山田 太郎",
        "佐藤 花子",
        "請求書 第1001号のご案内",
        "佐藤様\nお支払いをお願いします。",
        "請求書_1001.pdf",
    ),
    ("ar", "محمد علي", "فاطمة حسن", "فاتورة رقم ١٠٠١", "عزيزتي فاطمة،\nشكرا لكم.", "فاتورة_١٠٠١.pdf"),
]

PDF = make_pdf(2)


@pytest.fixture(params=sorted(PRODUCERS))
def produce(request: pytest.FixtureRequest) -> Producer:
    """Each test runs against the fast writer and the standard-library reference."""
    return PRODUCERS[request.param]


def _message(sample: tuple[str, ...], **kwargs: object) -> OutgoingMessage:
    _, sender, recipient, subject, text, filename = sample
    defaults: dict[str, object] = {
        "sender": Address("faktura@example.se", sender),
        "to": (Address("kund@example.com", recipient),),
        "subject": subject,
        "text": text,
        "html": f"<html><body><p>{text}</p><img src='cid:logo@example.se'></body></html>",
        "attachments": (Attachment.from_bytes(PDF, filename),),
    }
    defaults.update(kwargs)
    return OutgoingMessage(**defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_every_language_round_trips(produce: Producer, sample: tuple[str, ...]) -> None:
    """This test ensures that subject, names, bodies and attachment name/bytes read back exactly."""
    message = _message(sample)
    data = produce(message)
    check_wire_form(data)
    parsed = parse(data)
    assert str(parsed["Subject"]) == sample[3]
    assert parsed["From"].addresses[0].display_name == sample[1]
    assert parsed["From"].addresses[0].addr_spec == "faktura@example.se"
    assert parsed["To"].addresses[0].display_name == sample[2]
    assert parsed.get_content_type() == "multipart/mixed"
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    assert nl(text_part.get_content()) == body(sample[4])
    assert nl(html_part.get_content()) == body(message.html)
    (att,) = list(parsed.iter_attachments())
    assert att.get_filename() == sample[5]
    assert att.get_content_type() == "application/pdf"
    assert att.get_content() == PDF


def test_text_only_is_a_single_part(produce: Producer) -> None:
    """This test ensures that a text-only message is one text/plain part, not a multipart."""
    message = _message(SAMPLES[0], html=None, attachments=())
    parsed = parse(produce(message))
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert nl(parsed.get_content()) == body(SAMPLES[0][4])


def test_html_only_is_a_single_part(produce: Producer) -> None:
    """This test ensures that an HTML-only message is one text/html part."""
    message = _message(SAMPLES[1], text=None, html="<p>Grüße</p>", attachments=())
    parsed = parse(produce(message))
    assert parsed.get_content_type() == "text/html"
    assert nl(parsed.get_content()) == body("<p>Grüße</p>")


def test_ascii_text_is_7bit(produce: Producer) -> None:
    """This test ensures that a plain ASCII body needs no transfer encoding."""
    message = _message(SAMPLES[0], text="Hello\nWorld", html=None, attachments=(), subject="Hi")
    data = produce(message)
    parsed = parse(data)
    assert parsed["Content-Transfer-Encoding"] in (None, "7bit")
    assert nl(parsed.get_content()) == body("Hello\nWorld")


def test_alternative_has_text_before_html(produce: Producer) -> None:
    """This test ensures that text and HTML form multipart/alternative, text first."""
    message = _message(SAMPLES[2], attachments=())
    parsed = parse(produce(message))
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_inline_image_goes_under_related_with_content_id(produce: Producer) -> None:
    """This test ensures that inline images sit next to the HTML in multipart/related, by Content-ID."""
    logo = Attachment.from_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "logo.png", inline=True, content_id="logo@example.se"
    )
    message = _message(SAMPLES[0], attachments=(logo, Attachment.from_bytes(PDF, "a.pdf")))
    parsed = parse(produce(message))
    assert parsed.get_content_type() == "multipart/mixed"
    shape = [(p.get_content_type(), p.get_content_disposition()) for p in parsed.walk()]
    assert shape == [
        ("multipart/mixed", None),
        ("multipart/alternative", None),
        ("text/plain", None),
        ("multipart/related", None),
        ("text/html", None),
        ("image/png", "inline"),
        ("application/pdf", "attachment"),
    ]
    image = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo@example.se>"
    assert image.get_content() == logo.content


def test_inline_image_with_html_only(produce: Producer) -> None:
    """This test ensures that an HTML-only message with an inline image is multipart/related."""
    logo = Attachment.from_bytes(b"GIF89a", "logo.gif", inline=True, content_id="l@x.se")
    message = _message(SAMPLES[0], text=None, attachments=(logo,))
    parsed = parse(produce(message))
    assert parsed.get_content_type() == "multipart/related"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/html", "image/gif"]


def test_message_id_date_and_mime_version(produce: Producer) -> None:
    """This test ensures that Message-ID is on the sender's domain and Date/MIME-Version are set once."""
    when = datetime(2025, 1, 31, 23, 59, 1, tzinfo=timezone(timedelta(hours=1)))
    message = _message(SAMPLES[0], date=when, sender=Address("faktura@exämple.se", "Åsa"))
    data = produce(message)
    check_wire_form(data)
    parsed = parse(data)
    assert parsed["Message-ID"] == message.message_id
    assert message.message_id.endswith("@xn--exmple-cua.se>")
    assert parsedate_to_datetime(str(parsed["Date"])) == when
    assert parsed["MIME-Version"] == "1.0"
    assert len(parsed.get_all("MIME-Version") or []) == 1


def test_given_message_id_is_kept(produce: Producer) -> None:
    """This test ensures that a caller's Message-ID is written unchanged."""
    message = _message(SAMPLES[0], message_id="<invoice-1001@billing.example.org>")
    assert parse(produce(message))["Message-ID"] == "<invoice-1001@billing.example.org>"


def test_bcc_never_appears_and_cc_reply_to_do(produce: Producer) -> None:
    """This test ensures that Bcc is envelope-only while Cc and Reply-To are written."""
    message = _message(
        SAMPLES[1],
        cc=Address.parse_list("Cäcilie <c@example.de>, d@example.de"),
        bcc=(Address("secret@example.de"),),
        reply_to=(Address("buchhaltung@example.de", "Buchhaltung Süd"),),
    )
    data = produce(message)
    assert b"secret@" not in data
    parsed = parse(data)
    assert [a.display_name for a in parsed["Cc"].addresses] == ["Cäcilie", ""]
    assert parsed["Reply-To"].addresses[0].display_name == "Buchhaltung Süd"
    assert "secret@example.de" in message.recipients


def test_long_lines_are_never_over_998_octets(produce: Producer) -> None:
    """This test ensures that long body lines, subjects and file names are wrapped or encoded."""
    long_line = "Ä" + "x" * 5000 + " " * 3 + "y" * 3000
    message = _message(
        SAMPLES[0],
        subject="Ångest " * 300,
        text=long_line + "\n" + "ascii only " * 400,
        html="<p>" + "ö" * 4000 + "</p>",
        attachments=(Attachment.from_bytes(PDF, "Fakturaunderlag_" + "å" * 300 + ".pdf"),),
        headers=(("X-Long", "v" * 1500),),
    )
    data = produce(message)
    check_wire_form(data)
    parsed = parse(data)
    assert str(parsed["Subject"]) == message.subject
    assert str(parsed["X-Long"]) == "v" * 1500
    assert nl(parsed.get_body(("plain",)).get_content()) == body(message.text or "")  # type: ignore[union-attr]
    assert next(parsed.iter_attachments()).get_filename() == "Fakturaunderlag_" + "å" * 300 + ".pdf"


def test_trailing_whitespace_and_dots_in_body_survive(produce: Producer) -> None:
    """This test ensures that trailing spaces, lone dots and 'From ' lines come back unchanged."""
    text = "line with trailing spaces   \n.\nFrom here on\n\ttab\t\n\nlast"
    message = _message(SAMPLES[3], text=text, html=None, attachments=())
    parsed = parse(produce(message))
    assert nl(parsed.get_content()) == body(text)


def test_idn_domain_is_ascii_in_headers(produce: Producer) -> None:
    """This test ensures that an internationalised domain is written as IDNA without SMTPUTF8."""
    message = _message(SAMPLES[0], to=(Address("kund@bücher.de", "Kund"),))
    assert not message.smtputf8
    data = produce(message)
    data.decode("ascii")
    assert b"kund@xn--bcher-kva.de" in data
    assert message.recipients == ("kund@xn--bcher-kva.de",)


def test_non_ascii_local_part_flags_smtputf8(produce: Producer) -> None:
    """This test ensures that a non-ASCII local part sets smtputf8 and is written in UTF-8."""
    message = _message(SAMPLES[0], to=(Address("märta@exempel.se", "Märta"),))
    assert message.smtputf8
    data = produce(message)
    check_wire_form(data)
    parsed = parse(data)
    assert parsed["To"].addresses[0].addr_spec == "märta@exempel.se"
    assert parsed["To"].addresses[0].display_name == "Märta"
    assert str(parsed["Subject"]) == SAMPLES[0][3]
    assert next(parsed.iter_attachments()).get_filename() == SAMPLES[0][5]


def test_extra_headers_round_trip(produce: Producer) -> None:
    """This test ensures that extra headers, ASCII and not, are written and read back."""
    headers = (
        ("X-Invoice-Number", "1001"),
        ("X-Kund", "Åsa & Söner AB"),
        ("List-Unsubscribe", "<mailto:u@example.se>"),
    )
    message = _message(SAMPLES[0], headers=headers)
    parsed = parse(produce(message))
    for name, value in headers:
        assert str(parsed[name]) == value


def test_as_bytes_is_cached_and_stable() -> None:
    """This test ensures that as_bytes builds once and returns the same bytes again."""
    message = _message(SAMPLES[0], date=datetime(2025, 1, 1, tzinfo=UTC))
    first = message.as_bytes()
    assert message.as_bytes() is first
    assert message.as_email_message()["Message-ID"] == message.message_id


def test_message_id_on_a_given_domain() -> None:
    """This test ensures that a Message-ID can be made on the host's domain, IDNA-encoded, or refused."""
    from mailbill import Address, AddressError, OutgoingMessage

    def make(domain: str | None) -> OutgoingMessage:
        return OutgoingMessage(
            sender=Address("kund@example.se"), to=(Address("a@example.org"),), message_id_domain=domain
        )

    assert make(None).message_id.endswith("@example.se>")
    assert make("mail.billing.example").message_id.endswith("@mail.billing.example>")
    assert make("bücher.example").message_id.endswith("@xn--bcher-kva.example>")
    with pytest.raises(AddressError):
        make("not a domain")
