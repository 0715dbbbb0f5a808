"""Parsing and normalising e-mail addresses over email-validator.

email-validator checks the address itself (syntax, internationalised domains and
local parts, normalisation). The display name is split off here, more leniently
than RFC 5322's phrase syntax, because people type ``Åsa Öberg <asa@example.se>``
without quotes and expect it to work.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

import email_validator

from mailbill._safety import check_header_value
from mailbill.errors import AddressError

if TYPE_CHECKING:
    from mailbill._models import Address


def split_display_name(text: str) -> tuple[str, str]:
    """Split ``'Name <addr>'`` into ``('Name', 'addr')``; a bare address has an empty name.

    A quoted name has its quotes and backslash escapes removed.

    Raises:
        AddressError: an unquoted name holds angle brackets (two addresses in one).
    """
    text = text.strip()
    if text.endswith(">") and "<" in text:
        start = text.rindex("<")
        name, addr = text[:start].strip(), text[start + 1 : -1].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            inner = name[1:-1]
            out: list[str] = []
            escaped = False
            for char in inner:
                if escaped:
                    out.append(char)
                    escaped = False
                elif char == "\\":
                    escaped = True
                else:
                    out.append(char)
            name = "".join(out)
        elif "<" in name or ">" in name:
            # "A <a@x> <b@x>": two addresses where one is meant.
            raise AddressError(f"{text!r} is not one e-mail address", address=text)
        return " ".join(name.split()), addr
    return "", text


def split_address_list(text: str) -> list[str]:
    """Split a comma- or semicolon-separated list, respecting quotes and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and char in ",;":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


@functools.lru_cache(maxsize=8192)
def _validate_syntax(email: str) -> email_validator.ValidatedEmail:
    # Without DNS the answer depends on the text alone, so a batch that names the
    # same sender (or reads its recipients back from the outbox) validates each
    # address once. Errors are not cached: they are raised anew each time.
    return email_validator.validate_email(
        email, check_deliverability=False, allow_smtputf8=True, allow_display_name=False
    )


def validate(email: str, *, check_deliverability: bool = False) -> email_validator.ValidatedEmail:
    """Validate one bare address; raise :class:`AddressError` naming it when it is not valid.

    The result is shared between calls with the same text; treat it as read-only.
    """
    check_header_value(email, field="address", allow_tab=False)
    try:
        if not check_deliverability:
            return _validate_syntax(email)
        return email_validator.validate_email(
            email, check_deliverability=True, allow_smtputf8=True, allow_display_name=False
        )
    except email_validator.EmailNotValidError as exc:
        raise AddressError(f"{email!r} is not a valid e-mail address: {exc}", address=email) from exc


def parse_many(values: str | Address | Iterable[str | Address] | None) -> tuple[Address, ...]:
    """Turn a string list, an Address or an iterable of either into a tuple of Address."""
    from mailbill._models import Address

    if values is None:
        return ()
    if isinstance(values, Address):
        return (values,)
    if isinstance(values, str):
        return tuple(Address.parse(part) for part in split_address_list(values))
    result: list[Address] = []
    for value in values:
        if isinstance(value, Address):
            result.append(value)
        elif isinstance(value, str):
            result.append(Address.parse(value))
        else:
            raise AddressError(f"expected an address or a string, got {type(value).__name__}")
    return tuple(result)
