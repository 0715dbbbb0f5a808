"""Property tests: any header value, display name or file name round-trips exactly or is refused.

Every generated message is composed by the fast writer, parsed back with
``policy.default``, and compared with what went in; the set of header fields must
be exactly the expected one (nothing injected). A second property compares the
fast writer with the standard-library reference on random whole messages.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import errors

from compose_helpers import body, check_wire_form, parse, seen
from hypothesis import assume, given
from hypothesis import strategies as st

from mailbill import Address, Attachment, DocumentError, OutgoingMessage
from mailbill._compose import reference_bytes, to_bytes, to_wire
from mailbill._wire import known_dots

SENDER = Address("faktura@example.se", "Åsa Öberg")
TO = (Address("kund@example.com"),)
TEXT_ONLY_FIELDS = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
]

# Text as people type it, plus the awkward parts: blanks, tabs, encoded-word
# look-alikes, quotes and specials, controls and Unicode line separators.
AWKWARD = st.sampled_from(
    [" ", "  ", "\t", "=?", "?=", "=?utf-8?q?x?=", '"', "\\", ",", ";", "<", ">", "@", "(", ")", ":", "\r",
     "\n", "\x00", "\x85", "\u2028", "\u2029", "=", "_", "%", "'", "*", "ä", "ß", "ç", "ë", "Ω", "日本",
     "\u0627", "😀"]
)  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=8), AWKWARD), max_size=12).map("".join)


def _compose(message: OutgoingMessage) -> bytes:
    data = to_bytes(message)
    check_wire_form(data)
    return data


@given(subject=st.one_of(TEXT, st.text(max_size=300)))
def test_subject_round_trips_or_is_refused(subject: str) -> None:
    """This test ensures that any subject reads back exactly, or is refused, and injects nothing."""
    try:
        message = OutgoingMessage(sender=SENDER, to=TO, subject=subject, text="x")
    except DocumentError:
        assume(False)
        return
    parsed = parse(_compose(message))
    assert [k.lower() for k in parsed] == TEXT_ONLY_FIELDS
    assert str(parsed["Subject"]) == subject
    assert not parsed["Subject"].defects


@given(value=st.one_of(TEXT, st.text(max_size=300)))
def test_extra_header_round_trips_or_is_refused(value: str) -> None:
    """This test ensures that any extra header value reads back exactly, or is refused."""
    try:
        message = OutgoingMessage(sender=SENDER, to=TO, text="x", headers=(("X-Kund", value),))
    except DocumentError:
        assume(False)
        return
    parsed = parse(_compose(message))
    assert [k.lower() for k in parsed] == [*TEXT_ONLY_FIELDS[:5], "x-kund", *TEXT_ONLY_FIELDS[5:]]
    assert str(parsed["X-Kund"]) == value


@given(name=st.one_of(TEXT, st.text(max_size=120)), utf8=st.booleans())
def test_display_name_round_trips_or_is_refused(name: str, utf8: bool) -> None:
    """This test ensures that any display name reads back exactly (blanks collapsed), or is refused."""
    try:
        addr = Address("märta@exempel.se" if utf8 else "marta@exempel.se", name)
        message = OutgoingMessage(sender=SENDER, to=(addr, Address("b@example.se", name)), text="x")
    except DocumentError:
        assume(False)
        return
    assert addr.name == " ".join(name.split())
    assert message.smtputf8 == utf8
    parsed = parse(_compose(message))
    assert [k.lower() for k in parsed] == TEXT_ONLY_FIELDS
    assert [(a.display_name, a.addr_spec) for a in parsed["To"].addresses] == [
        (addr.name, addr.email),
        (addr.name, "b@example.se"),
    ]
    # RFC 6532 local parts are legal with SMTPUTF8; the stdlib still notes them.
    assert [d for d in parsed["To"].defects if not isinstance(d, errors.NonASCIILocalPartDefect)] == []


@given(filename=st.one_of(TEXT, st.text(min_size=1, max_size=200)), inline=st.booleans())
def test_filename_round_trips_or_is_refused(filename: str, inline: bool) -> None:
    """This test ensures that any attachment file name reads back exactly, or is refused."""
    try:
        att = Attachment.from_bytes(
            b"\x00\x01data", filename + ".bin", inline=inline, content_id="c@example.se"
        )
    except DocumentError:
        assume(False)
        return
    message = OutgoingMessage(sender=SENDER, to=TO, text="x", html="<p>x</p>", attachments=(att,))
    parsed = parse(_compose(message))
    files = [p for p in parsed.walk() if p.get_content_type() == "application/octet-stream"]
    assert len(files) == 1
    assert files[0].get_filename() == att.filename
    assert files[0].get_content() == b"\x00\x01data"
    assert files[0].get_content_disposition() == ("inline" if inline else "attachment")
    assert not files[0]["Content-Disposition"].defects


# Characters str.splitlines() breaks at besides CR and LF: the standard library turns
# them into line breaks in a body, the fast writer keeps them, so the comparison
# with the reference leaves them out (the round-trip property below keeps them).
_SPLITLINES = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
BODY = st.text(st.characters(exclude_characters=_SPLITLINES, exclude_categories=("Cs",)), max_size=400)
HEADER_CHARS = st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="/\\")
# The reference decodes "=?...?=" typed into a name or subject (the fast writer
# encodes it, so it reads back as typed) and splits long names oddly, so the
# comparison keeps names short and without "=?".
SHORT_NAME = st.text(HEADER_CHARS, max_size=15).filter(lambda s: "=?" not in s)
FILES = st.lists(
    st.tuples(st.binary(max_size=300), st.text(HEADER_CHARS, max_size=40), st.booleans()), max_size=3
)


@st.composite
def messages(draw: st.DrawFn) -> OutgoingMessage:
    """Random whole messages: names, subject, text and/or HTML, attachments, inline parts."""
    text, html = draw(st.one_of(st.none(), BODY)), draw(st.one_of(st.none(), BODY))
    attachments = []
    for i, (content, name, inline) in enumerate(draw(FILES)):
        try:
            attachments.append(
                Attachment.from_bytes(content, f"{name}.dat", inline=inline, content_id=f"c{i}@x.se")
            )
        except DocumentError:
            assume(False)
    try:
        return OutgoingMessage(
            sender=Address("a@example.se", draw(SHORT_NAME)),
            to=(Address(draw(st.sampled_from(["b@bücher.de", "märta@exempel.se"])), draw(SHORT_NAME)),),
            cc=(Address("c@example.fr", draw(SHORT_NAME)),),
            subject=draw(
                st.text(HEADER_CHARS, max_size=100).filter(lambda s: "=?" not in s and s[:1] != " ")
            ),
            text=text,
            html=html,
            attachments=tuple(attachments),
            date=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        )
    except DocumentError:
        assume(False)
        raise


@given(message=messages())
def test_fast_writer_matches_the_standard_library(message: OutgoingMessage) -> None:
    """This test ensures that the fast writer and the stdlib reference read back the same."""
    fast = parse(_compose(message))
    reference = parse(reference_bytes(message))
    assert seen(fast) == seen(reference)
    assert [p.get_content_type() for p in fast.walk()] == [p.get_content_type() for p in reference.walk()]


@given(text=st.text(max_size=2000), html=st.text(max_size=500))
def test_bodies_round_trip_exactly(text: str, html: str) -> None:
    """This test ensures that any text and HTML body reads back exactly (line ends as CRLF)."""
    message = OutgoingMessage(sender=SENDER, to=TO, text=text, html=html)
    result = seen(parse(_compose(message)))
    assert result.text == body(text)
    assert result.html == body(html)


# Bodies where lines start with dots: typed, after blank lines, and where
# quoted-printable breaks a long line just before one.
LATIN = "Mit freundlichen Grüßen, Åsa. "
DOTTY = st.lists(
    st.sampled_from([".", "..", "\n", "\n.", "\r\n.", ".x", "ä", " ", "x" * 37, "é" * 13, "x" * 75]),
    max_size=24,
).map("".join)


@given(message=messages(), text=st.one_of(st.none(), DOTTY), html=st.one_of(st.none(), DOTTY))
def test_the_writer_knows_whether_a_line_starts_with_a_dot(
    message: OutgoingMessage, text: str | None, html: str | None
) -> None:
    """This test ensures that the dot fact the writer gives SMTP is what a scan of the whole bytes finds."""
    message = replace(message, text=text, html=html)
    data, dots = to_wire(message)
    check_wire_form(data)  # the other half of the fact: CRLF line ends only
    assert dots == (data.startswith(b".") or b"\n." in data)
    # as_bytes notes the same fact beside the bytes it caches, for the SMTP transport
    cached = message.as_bytes()
    assert known_dots(message) == (b"\n." in cached)


@given(text=DOTTY, html=DOTTY)
def test_quoted_printable_bodies_never_start_a_line_with_a_dot(text: str, html: str) -> None:
    """This test ensures that a Latin-script body with dot lines leaves SMTP nothing to dot-stuff.

    The writer encodes such a dot as ``=2E`` (soft-breaking a line that grows past 76
    characters), so the message's bytes have no dot line and still decode exactly.
    """
    text, html = LATIN + text, LATIN + html  # mostly ASCII: quoted-printable, unless DOTTY adds much "é"
    message = OutgoingMessage(sender=SENDER, to=TO, subject="s", text=text, html=html)
    data, dots = to_wire(message)
    check_wire_form(data)
    assert not dots
    assert not data.startswith(b".")
    assert b"\n." not in data
    for line in data.split(b"\r\n"):
        assert len(line) <= 76, line
    result = seen(parse(data))
    assert result.text == body(text)
    assert result.html == body(html)


def test_a_dot_line_in_quoted_printable_is_written_as_2e() -> None:
    """This test ensures that the property above covers quoted-printable, with a line that must break."""
    message = OutgoingMessage(sender=SENDER, to=TO, text=LATIN + "\n.footer{}\n" + "." * 76 + "\n")
    data, dots = to_wire(message)
    assert b"Content-Transfer-Encoding: quoted-printable" in data
    assert not dots
    assert b"\r\n=2Efooter{}\r\n=2E" + b"." * 72 + b"=\r\n=2E..\r\n" in data
