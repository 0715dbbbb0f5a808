"""Details of the fast writer the round-trip tests do not pin down."""

from __future__ import annotations

import base64
import binascii
import email
import re
import urllib.parse
from email.header import decode_header, make_header

import pytest
from compose_helpers import check_wire_form, make_pdf, parse
from hypothesis import given
from hypothesis import strategies as st

from mailbill import Address, Attachment, AttachmentError, OutgoingMessage
from mailbill._compose import to_bytes
from mailbill._headers import param_tokens
from mailbill._mime import _base64, _multipart, _text_part

PDF = make_pdf(1)


def _message(**kwargs: object) -> OutgoingMessage:
    defaults: dict[str, object] = {
        "sender": Address("faktura@example.se", "Åsa Öberg"),
        "to": (Address("kund@example.com", "Märta Ängström"),),
        "subject": "Faktura 1001",
        "text": "Hej",
    }
    defaults.update(kwargs)
    return OutgoingMessage(**defaults)  # type: ignore[arg-type]


def _head(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def _cte(data: bytes, content_type: bytes) -> bytes:
    parts = data.split(b"Content-Type: " + content_type, 1)[1]
    match = re.search(rb"Content-Transfer-Encoding: (\S+)", parts)
    assert match is not None
    return match.group(1)


def test_transfer_encoding_follows_the_text() -> None:
    """This test ensures 7bit for ASCII, quoted-printable for Latin text, base64 for other scripts."""
    assert _cte(to_bytes(_message(text="Hello")), b"text/plain") == b"7bit"
    assert (
        _cte(
            to_bytes(_message(text="Hej! Här kommer fakturan för juni, med vänliga hälsningar")),
            b"text/plain",
        )
        == b"quoted-printable"
    )
    assert _cte(to_bytes(_message(text="請求書のご案内です。")), b"text/plain") == b"base64"
    assert _cte(to_bytes(_message(text="x" * 1200)), b"text/plain") == b"quoted-printable"
    nul = to_bytes(_message(text="a\x00b"))
    assert _cte(nul, b"text/plain") == b"quoted-printable"
    assert b"\x00" not in nul


def test_header_lines_stay_within_78_where_words_allow() -> None:
    """This test ensures that headers are folded to 78 octets for ordinary long values."""
    message = _message(
        subject="Påminnelse: faktura 1001, 1002 och 1003 är förfallna sedan den 30 juni " * 3,
        to=tuple(Address(f"kund{i}@example.com", f"Kund Nummer {i} Ängström") for i in range(6)),
        headers=(("X-Note", "an ascii note that goes on and on " * 5),),
        attachments=(Attachment.from_bytes(PDF, "Fakturaunderlag för " + "lägenhet " * 12 + ".pdf"),),
    )
    data = to_bytes(message)
    check_wire_form(data)
    for line in data.split(b"\r\n"):
        assert len(line) <= 78, line


def test_encoded_words_are_short_and_hold_whole_characters() -> None:
    """This test ensures each subject encoded word is at most 75 chars and decodes on its own."""
    for subject in ("Ωμέγα " * 40, "請求書" * 50, "Grüße " * 60, "😀x" * 80):
        head = b"\r\n".join(_head(to_bytes(_message(subject=subject)))).decode("ascii")
        subject_field = head.split("Subject:", 1)[1].split("\r\nDate:", 1)[0]
        words = re.findall(r"=\?utf-8\?([qb])\?([^?]*)\?=", subject_field)
        assert len(words) > 1
        for kind, payload in words:
            assert len(payload) + 12 <= 75
            raw = (
                base64.b64decode(payload)
                if kind == "b"
                else re.sub(
                    r"=([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), payload.replace("_", " ")
                ).encode("latin-1")
            )
            raw.decode("utf-8")  # strict: no character split between words


def test_rfc2231_segments_hold_whole_characters() -> None:
    """This test ensures that long file names are split into RFC 2231 segments of whole characters."""
    name = "Räkning för " + "ö" * 80 + " 請求書.pdf"
    data = to_bytes(_message(attachments=(Attachment.from_bytes(PDF, name),)))
    segments = re.findall(rb"filename\*(\d+)\*=(?:utf-8'')?([^;\r\n]+)", data)
    assert len(segments) > 1
    assert [int(n) for n, _ in segments] == list(range(len(segments)))
    for _, value in segments:
        urllib.parse.unquote_to_bytes(value.decode("ascii")).decode("utf-8")
    assert next(parse(data).iter_attachments()).get_filename() == name


@given(st.text(min_size=1, max_size=300))
def test_rfc2231_parameters_read_back_in_short_segments_of_whole_characters(value: str) -> None:
    """This test ensures that an encoded parameter reads back whole, in short segments of whole characters."""
    tokens = param_tokens("filename", value)
    if tokens[0].startswith('filename="'):  # short printable ASCII: quoted
        assert len(tokens) == 1
        return
    if tokens[0].startswith("filename*="):  # short enough for one line without sections
        found = re.fullmatch(r"filename\*=utf-8''([!-~]*)", tokens[0])
        assert found is not None
        assert len(tokens) == 1
        segments = [found.group(1)]
        assert len("filename") + len(segments[0]) <= 60
    else:  # sections 0, 1, ... (one alone when only the "utf-8''" prefix made it long)
        segments = []
        for number, token in enumerate(tokens):
            found = re.fullmatch(rf"filename\*{number}\*=([!-~]*?)(;?)", token)
            assert found is not None
            assert (found.group(2) == ";") == (number < len(tokens) - 1)
            segments.append(found.group(1))
            assert len(found.group(1)) <= 60
        assert segments[0].startswith("utf-8''")
        segments[0] = segments[0].removeprefix("utf-8''")
    decoded = [urllib.parse.unquote_to_bytes(segment).decode("utf-8") for segment in segments]  # strict
    assert "".join(decoded) == value
    assert all(re.fullmatch(r"(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})*", segment) for segment in segments)


def test_boundary_never_occurs_in_the_content() -> None:
    """This test ensures that a boundary found in a part's content is replaced by another."""
    tokens = iter(["aaaa", "aaaa", "bbbb", "bbbb", "cccc"])
    text = (b"Content-Type: text/plain\r\n", b"--=_mb_aaaa\r\n")
    head, pieces, checked, lines = _multipart(
        "mixed", [(text[0], [text[1]], text, text)], token=lambda _n: next(tokens)
    )
    body = b"".join(pieces)
    assert b'boundary="=_mb_bbbb"' in head
    assert body.startswith(b"--=_mb_bbbb\r\n")
    assert body.endswith(b"--=_mb_bbbb--\r\n")
    # an enclosing multipart checks the inner one's head and text too
    outer, _, _, _ = _multipart("mixed", [(head, pieces, checked, lines)], token=lambda _n: next(tokens))
    assert b'boundary="=_mb_cccc"' in outer


def test_encoded_bodies_cannot_hold_a_boundary() -> None:
    """This test ensures that base64 and quoted-printable output never holds "=_", which every marker has."""
    import binascii
    import os

    for _ in range(200):
        data = os.urandom(300) + b"=_ --=_mb_ ===" * 3
        assert b"=_" not in binascii.b2a_base64(data)
        assert b"=_" not in binascii.b2a_qp(data, istext=True)
        assert b"=_" not in binascii.b2a_qp(data.decode("latin-1").encode("utf-8"), istext=True)


def test_boundaries_differ_between_messages() -> None:
    """This test ensures that boundaries are random, not derived from the content."""
    message = _message(html="<p>Hej</p>")
    first = re.findall(rb'boundary="([^"]+)"', to_bytes(message))
    second = re.findall(rb'boundary="([^"]+)"', to_bytes(message))
    assert first
    assert first != second


def test_sender_header_is_encoded_once_per_address() -> None:
    """This test ensures that the encoded From tokens are cached on the Address and reused."""
    sender = Address("faktura@example.se", "Åsa Öberg")
    to_bytes(_message(sender=sender))
    cached = sender._tokens["ascii"]
    data = to_bytes(_message(sender=sender, subject="Faktura 1002"))
    assert sender._tokens["ascii"] is cached
    assert parse(data)["From"].addresses[0].display_name == "Åsa Öberg"


def test_utf8_message_writes_the_raw_address() -> None:
    """This test ensures that with SMTPUTF8 the address is UTF-8 while names stay encoded."""
    data = to_bytes(_message(to=(Address("märta@bücher.de", "Märta"),)))
    assert "<märta@bücher.de>".encode() in data
    check_wire_form(data)


def test_as_bytes_uses_the_fast_writer() -> None:
    """This test ensures that OutgoingMessage.as_bytes() is the fast writer's output."""
    data = _message(html="<p>x</p>").as_bytes()
    assert b'boundary="=_mb_' in data


def test_absurdly_long_values_still_keep_lines_within_998() -> None:
    """This test ensures that huge names, subjects and header values never make a line over 998."""
    for name in ("a" * 3000, "Ä" * 3000, "a b" * 1000, '"' * 2000):
        message = _message(
            sender=Address("a@example.se", name),
            reply_to=(Address("r@example.se", name), Address("s@example.se", name)),
            cc=(Address("c@example.se", name),),
            subject=name,
            headers=(("X-" + "N" * 74, name),),
            attachments=(Attachment.from_bytes(PDF, name[:250] + ".pdf"),),
        )
        data = to_bytes(message)
        check_wire_form(data)
        parsed = parse(data)
        assert str(parsed["Subject"]) == name
        assert str(parsed["X-" + "N" * 74]) == name


def test_long_content_ids_and_types_are_refused() -> None:
    """This test ensures that a Content-ID or content type too long for one header line is refused."""
    with pytest.raises(AttachmentError):
        Attachment.from_bytes(b"x", "a.png", inline=True, content_id="a" * 300 + "@x.se")
    with pytest.raises(AttachmentError):
        Attachment.from_bytes(b"x", "a.bin", content_type="application/" + "x" * 300)


@pytest.mark.parametrize(
    ("subject", "filename", "name"),
    [
        ("Räkning 1001 – förfaller", "Faktura_Ängström_" + "å" * 40 + ".pdf", "Åsa Öberg"),
        ("請求書 第1001号", "請求書.pdf", "山田 太郎"),
        ("  x =?utf-8?q?y?= z", 'a"b.pdf', "=?x?="),
    ],
)
def test_legacy_compat32_readers_see_the_same(subject: str, filename: str, name: str) -> None:
    """This test ensures older readers (compat32, decode_header, get_filename) read the same values."""
    message = _message(
        sender=Address("a@example.se", name),
        subject=subject,
        attachments=(Attachment.from_bytes(PDF, filename),),
    )
    legacy = email.message_from_bytes(to_bytes(message))
    assert str(make_header(decode_header(legacy["Subject"]))) == subject
    assert str(make_header(decode_header(legacy["From"]))) == f"{name} <a@example.se>"
    assert [p.get_filename() for p in legacy.walk() if p.get_filename()] == [filename]


MIXED = st.text(st.sampled_from(["a", " ", "\n", "ä", "€", "日", "😀", "."]), min_size=1, max_size=400)


@given(text=MIXED)
def test_quoted_printable_is_chosen_exactly_when_under_a_sixth_of_the_bytes_are_high(text: str) -> None:
    """This test ensures that the quick bound on high bytes never changes the body's encoding."""
    raw = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    high = sum(byte >= 0x80 for byte in raw)
    head = _text_part(text, "plain")[0]
    if raw.isascii():
        assert b"7bit" in head
    else:
        expected = b"quoted-printable" if high * 6 < len(raw) else b"base64"
        assert expected in head


@pytest.mark.parametrize("blank", [" ", "\t"])
@pytest.mark.parametrize("width", [73, 74, 75])
def test_quoted_printable_lines_ending_in_a_blank_stay_within_76(blank: str, width: int) -> None:
    """This test ensures that a line whose last blank is encoded still fits 76 characters.

    ``binascii.b2a_qp`` does not count the two characters ``=20``/``=09`` add, so a
    75-character line with a trailing blank came out 78 characters long.
    """
    text = "Grüße\n" + "x" * width + blank + "\nnext\n"
    head, body, _, _ = _text_part(text, "plain")
    assert b"quoted-printable" in head
    lines = b"".join(body).split(b"\r\n")
    assert max(map(len, lines)) <= 76, lines
    assert binascii.a2b_qp(b"".join(body)).replace(b"\r\n", b"\n") == text.encode("utf-8")


# 3,648 input bytes make one block of 64 full lines; sizes around block and line edges matter.
EDGES = st.sampled_from([0, 1, 56, 57, 58, 3647, 3648, 3649, 7296, 7297]) | st.integers(0, 20_000)


@given(size=EDGES, seed=st.integers(0, 255))
def test_base64_bodies_are_the_standard_76_column_lines(size: int, seed: int) -> None:
    """This test ensures that attachment bodies equal base64.encodebytes' lines, with CRLF ends."""
    data = bytes((seed + i * 7) % 256 for i in range(size))
    assert _base64(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")
