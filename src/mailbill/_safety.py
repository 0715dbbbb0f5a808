"""Refusing header injection before anything is built.

The standard library's email package folds and encodes headers, but the Python on
many machines (3.11.7 included) still has CVE-2024-6923: an RFC 2047 encoded word
that decodes to a line break is written out as a real line break. So every value
that goes into a header is checked here, first, and mailbill never relies on the
email package to refuse it.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from mailbill.errors import HeaderInjectionError

# Deliberately looser than RFC 2047: the standard library also decodes words with
# an empty or unknown charset and with blanks inside, so every such form counts.
_ENCODED_WORD = re.compile(r"=\?([^?]*)\?([QqBb])\?(.*?)\?=", re.DOTALL)
_Q_ESCAPE = re.compile(rb"=([a-fA-F0-9]{2})")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FIELD_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 ftext: printable ASCII but ":"


# Unicode's Cc category is exactly U+0000-U+001F and U+007F-U+009F (fixed by Unicode's
# stability policy); U+0085 is among them. Tab is allowed here (callers decide).
_BAD_CHAR = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _bad_char(text: str) -> str | None:
    found = _BAD_CHAR.search(text)
    return None if found is None else found.group()


def _decodings(word: str, charset: str, encoding: str, payload: str, *, field: str) -> list[str]:
    """Every way a lenient reader might decode one encoded word.

    Raises:
        HeaderInjectionError: the word does not decode cleanly (unknown charset,
            bytes invalid in it): readers disagree on such words, and the
            standard library cannot even write them out again.
    """
    data = payload.encode("utf-8", "surrogateescape")
    raws: list[bytes] = []
    if encoding in "Bb":
        compact = b"".join(data.split())
        for padding in (b"", b"=", b"==", b"==="):
            try:
                raws.append(base64.b64decode(compact + padding))
            except (binascii.Error, ValueError):
                continue
    else:
        raws.append(
            _Q_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode("ascii")), data.replace(b"_", b" "))
        )
    texts: list[str] = []
    for raw in raws:
        match = _CONTROL_BYTES.search(raw)
        if match:  # whatever the charset claims, a reader may fall back to ASCII
            texts.append(match.group(0).decode("latin-1"))
        try:
            texts.append(raw.decode(charset.split("*", 1)[0]))
        except (LookupError, UnicodeError):
            if not match:
                raise HeaderInjectionError(
                    f"{field}: encoded word {word!r} does not decode cleanly with charset {charset!r}",
                    field=field,
                ) from None
    if not raws:
        raise HeaderInjectionError(f"{field}: encoded word {word!r} is not valid base64", field=field)
    return texts


def check_header_value(value: str, *, field: str, allow_tab: bool = True) -> str:
    """Return ``value`` unchanged, or raise if it could break out of its header.

    Args:
        value: The text meant for one header (or address, or file name).
        field: Where it is meant to go, for the error message.
        allow_tab: Whether a horizontal tab is acceptable.

    Raises:
        HeaderInjectionError: ``value`` holds CR, LF, another control character,
            U+0085, U+2028 or U+2029, or an RFC 2047 encoded word that decodes to
            one or does not decode cleanly.
    """
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise HeaderInjectionError(
                f"{field}: lone surrogate at position {exc.start} cannot be encoded", field=field
            ) from None
    bad = _bad_char(value)
    if bad is None and not allow_tab and "\t" in value:
        bad = "\t"
    if bad is not None:
        raise HeaderInjectionError(
            f"{field}: control character {bad!r} (U+{ord(bad):04X}) is not allowed in a header value",
            field=field,
        )
    if "=?" in value:
        start = value.find("=?")
        while start >= 0:
            match = _ENCODED_WORD.match(value, start)
            if match:
                for decoded in _decodings(match.group(0), *match.groups(), field=field):
                    bad = _bad_char(decoded)
                    if bad is not None:
                        raise HeaderInjectionError(
                            f"{field}: encoded word {match.group(0)!r} decodes to control character "
                            f"{bad!r} (U+{ord(bad):04X})",
                            field=field,
                        )
            start = value.find("=?", start + 1)
    return value


def check_field_name(name: str) -> str:
    """Return a header field name unchanged, or raise if it is not a valid one.

    Raises:
        HeaderInjectionError: ``name`` is empty, longer than 76 characters, or holds
            anything but printable ASCII without a colon.
    """
    if not _FIELD_NAME.match(name):
        raise HeaderInjectionError(f"{name!r} is not a valid header field name", field=name)
    return name


#: Headers mailbill writes itself; ``OutgoingMessage.headers`` may not set them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "sender",
        "return-path",
    }
)


def make_message_id(domain: str) -> str:
    """Return a new, globally unique ``<...@domain>`` Message-ID."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def check_message_id(value: str) -> str:
    """Return ``value`` unchanged if it is one ASCII ``<unique@domain>``, else raise.

    Raises:
        HeaderInjectionError: it is not of that form.
    """
    check_header_value(value, field="Message-ID", allow_tab=False)
    if (
        not (value.startswith("<") and value.endswith(">") and "@" in value)
        or " " in value
        or not value.isascii()
        or len(value) > 900
    ):
        raise HeaderInjectionError(
            f"Message-ID {value!r} must have the form <unique@domain>", field="Message-ID"
        )
    return value
