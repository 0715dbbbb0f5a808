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
import quopri
import re
import unicodedata

from mailbill.errors import HeaderInjectionError

# Line and paragraph separators that some parsers treat as line breaks.
_SEPARATORS = frozenset("\u0085\u2028\u2029")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII but ":"


def _bad_char(text: str) -> str | None:
    for char in text:
        if char in _SEPARATORS or (unicodedata.category(char) == "Cc" and char != "\t"):
            return char
    return None


def _decode_word(charset: str, encoding: str, payload: str) -> str:
    try:
        if encoding in "Bb":
            padded = payload + "=" * (-len(payload) % 4)
            raw = base64.b64decode(padded)
        else:
            raw = quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return ""
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("latin-1")


def check_header_value(value: str, *, field: str, allow_tab: bool = True) -> str:
    """Return ``value`` unchanged, or raise if it could break out of its header.

    Args:
        value: The text meant for one header (or address, or file name).
        field: Where it is meant to go, for the error message.
        allow_tab: Whether a horizontal tab is acceptable.

    Raises:
        HeaderInjectionError: ``value`` holds CR, LF, another control character,
            U+0085, U+2028 or U+2029, or an RFC 2047 encoded word that decodes to one.
    """
    bad = _bad_char(value)
    if bad is None and not allow_tab and "\t" in value:
        bad = "\t"
    if bad is not None:
        raise HeaderInjectionError(
            f"{field}: control character {bad!r} (U+{ord(bad):04X}) is not allowed in a header value",
            field=field,
        )
    if "=?" in value:
        for match in _ENCODED_WORD.finditer(value):
            decoded = _decode_word(*match.groups())
            bad = _bad_char(decoded)
            if bad is not None:
                raise HeaderInjectionError(
                    f"{field}: encoded word {match.group(0)!r} decodes to control character "
                    f"{bad!r} (U+{ord(bad):04X})",
                    field=field,
                )
    return value


def check_field_name(name: str) -> str:
    """Return a header field name unchanged, or raise if it is not a valid one.

    Raises:
        HeaderInjectionError: ``name`` is empty or holds anything but printable ASCII
            without a colon.
    """
    if not _FIELD_NAME.match(name):
        raise HeaderInjectionError(f"{name!r} is not a valid header field name", field=name)
    return name
