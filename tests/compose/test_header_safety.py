"""Header injection is refused before anything is built (CVE-2024-6923 included)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from compose_helpers import parse
from hypothesis import given
from hypothesis import strategies as st

from mailbill import Address, Attachment, DocumentError, HeaderInjectionError, OutgoingMessage
from mailbill._compose import reference_bytes, to_bytes

BAD_CHARS = [
    "\r",
    "\n",
    "\r\n",
    "\x00",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x7f",
    "\x85",
    "\u0085",
    "\u2028",
    "\u2029",
]

# Encoded words that decode to a line break or another control character.
ENCODED = [
    "=?utf-8?q?a=0D=0ABcc:_x@evil.com?=",
    "=?UTF-8?Q?a=0d=0aBcc:_x@evil.com?=",
    "=?utf-8?b?YQ0KQmNjOiB4QGV2aWwuY29t?=",
    "=?utf-8?b?DQo?=",
    "=?iso-8859-1?q?a=0Ab?=",
    "=?iso-8859-1?q?a=85b?=",
    "=?utf-8?q?a=E2=80=A8b?=",
    "=?utf-8*en?q?a=0Ab?=",
    "ok =?utf-8?q?fine?= =?utf-8?q?=0A?=",
    "=?utf-16-le?b?DQAKAA==?=",
    # Forms the standard library decodes although RFC 2047 does not allow them.
    "=?utf-8?q?a =0D=0ABcc: x@evil.com?=",
    "=?x y?q?a=0D=0ABcc:_x@evil.com?=",
    "=??q?a=0D=0Ab?=",
    "=?utf-8?b?DQ oK?=",
    "=?utf-8?q?=0D?=0A?=",
    "=?=?utf-8?q?=0A?=",
    "=?no-such-charset?b?DQo=?=",
]


def _message(**kwargs: object) -> OutgoingMessage:
    defaults: dict[str, object] = {
        "sender": Address("a@example.se"),
        "to": (Address("b@example.se"),),
        "text": "x",
    }
    defaults.update(kwargs)
    return OutgoingMessage(**defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", BAD_CHARS, ids=repr)
@pytest.mark.parametrize(
    "where",
    [
        "subject",
        "header-value",
        "header-name",
        "display-name",
        "address",
        "filename",
        "message-id",
        "business-key",
    ],
)
def test_control_characters_are_refused_everywhere(bad: str, where: str) -> None:
    """This test ensures that CR, LF, other controls and Unicode line separators are refused."""
    value = f"Hello{bad}Bcc: victim@example.com"
    build: dict[str, Callable[[], object]] = {
        "subject": lambda: _message(subject=value),
        "header-value": lambda: _message(headers=(("X-Note", value),)),
        "header-name": lambda: _message(headers=((f"X{bad}Y", "v"),)),
        "display-name": lambda: _message(reply_to=(Address("r@example.se", value),)),
        "address": lambda: _message(cc=f"c{bad}@example.se"),
        "filename": lambda: Attachment.from_bytes(b"x", value + ".txt"),
        "message-id": lambda: _message(message_id=f"<a{bad}b@example.se>"),
        "business-key": lambda: _message(business_key=value),
    }
    with pytest.raises(HeaderInjectionError):
        build[where]()


@pytest.mark.parametrize("word", ENCODED)
@pytest.mark.parametrize("where", ["subject", "header-value", "display-name", "filename"])
def test_encoded_words_that_decode_to_line_breaks_are_refused(word: str, where: str) -> None:
    """This test ensures that an RFC 2047 word decoding to a control is refused (CVE-2024-6923)."""
    build: dict[str, Callable[[], object]] = {
        "subject": lambda: _message(subject=f"Faktura {word}"),
        "header-value": lambda: _message(headers=(("X-Note", word),)),
        "display-name": lambda: _message(to=f'"{word}" <b@example.se>'),
        "filename": lambda: Attachment.from_bytes(b"x", f"{word}.txt"),
    }
    with pytest.raises(HeaderInjectionError, match="encoded word"):
        build[where]()


def test_tab_is_allowed_in_subject_but_not_in_names() -> None:
    """This test ensures that a tab is fine inside a subject but not in names or addresses."""
    assert _message(subject="a\tb").subject == "a\tb"
    with pytest.raises(HeaderInjectionError):
        Address("a@example.se", "A\tB")


def test_reserved_headers_cannot_be_set_as_extra_headers() -> None:
    """This test ensures that From, Bcc, Content-Type and the like go through their own fields only."""
    for name in ("Bcc", "from", "Content-Type", "MIME-Version", "Message-ID", "Sender"):
        with pytest.raises(HeaderInjectionError, match=name):
            _message(headers=((name, "x"),))


@pytest.mark.parametrize("name", ["", "X Note", "X:Note", "Ünïcode", "X-\x7f"])
def test_invalid_header_names_are_refused(name: str) -> None:
    """This test ensures that a header name must be printable ASCII without colon or space."""
    with pytest.raises(HeaderInjectionError):
        _message(headers=((name, "v"),))


def test_message_id_must_look_like_one() -> None:
    """This test ensures that a Message-ID must be <unique@domain> without spaces."""
    for bad in ("abc@example.se", "<abc>", "<a b@example.se>"):
        with pytest.raises(HeaderInjectionError, match="Message-ID"):
            _message(message_id=bad)


def test_harmless_encoded_words_pass_the_check() -> None:
    """This test ensures that encoded words decoding to ordinary text are not refused."""
    assert _message(subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?=").subject == "=?utf-8?q?Gr=C3=BC=C3=9Fe?="


PAYLOAD_BYTES = st.binary(max_size=12)
CHARSETS = st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "utf-16-le", "", "bogus", "utf-8*en", "x y"])


@st.composite
def encoded_words(draw: st.DrawFn) -> str:
    """Encoded words as an attacker would write them, loosely formed on purpose."""
    raw = draw(PAYLOAD_BYTES)
    charset = draw(CHARSETS)
    if draw(st.booleans()):
        payload = base64.b64encode(raw).decode("ascii").rstrip("=" if draw(st.booleans()) else "")
        return f"=?{charset}?{draw(st.sampled_from('bB'))}?{payload}?="
    payload = "".join(
        f"={b:02X}" if draw(st.booleans()) or b < 33 or b > 126 or b in b"?_=" else chr(b) for b in raw
    )
    return f"=?{charset}?{draw(st.sampled_from('qQ'))}?{payload}?="


@given(
    words=st.lists(st.one_of(encoded_words(), st.sampled_from(["", " ", "x", "Bcc: a@evil.com"])), max_size=4)
)
def test_no_encoded_word_smuggles_a_header_into_either_writer(words: list[str]) -> None:
    """This test ensures that encoded words never inject a header, in the fast writer or the stdlib one."""
    subject = "".join(words)
    try:
        message = _message(subject=subject, headers=(("X-Note", subject),), text="x")
    except HeaderInjectionError:
        return
    expected = ["from", "to", "subject", "date", "message-id", "x-note", "mime-version", "content-type"]
    for data in (to_bytes(message), reference_bytes(message)):
        parsed = parse(data)
        assert sorted(k.lower() for k in parsed if k.lower() != "content-transfer-encoding") == sorted(
            expected
        )
        for name in ("Subject", "X-Note"):
            assert not any(c in str(parsed[name]) for c in "\r\n\x85\u2028\u2029")


def test_lone_surrogates_are_refused_with_a_clear_error() -> None:
    """This test ensures that text that cannot be encoded is refused before composing."""
    with pytest.raises(HeaderInjectionError, match="surrogate"):
        _message(subject="a\udc80b")
    with pytest.raises(HeaderInjectionError, match="surrogate"):
        Attachment.from_bytes(b"x", "a\udc80.txt")
    with pytest.raises(DocumentError, match="text body"):
        _message(text="a\udc80b")
    with pytest.raises(DocumentError, match="html body"):
        _message(html=b"<p>bytes</p>")


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_the_control_character_scan_matches_unicode_categories(text: str) -> None:
    """This test ensures that the fast scan finds exactly Cc characters (but tab) and U+2028/U+2029."""
    import unicodedata

    from mailbill._safety import _bad_char

    expected = next(
        (c for c in text if c in "\u2028\u2029" or (unicodedata.category(c) == "Cc" and c != "\t")), None
    )
    assert _bad_char(text) == expected
