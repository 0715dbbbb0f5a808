"""Header fields written directly: RFC 2047 encoded words, RFC 2231 parameters, folding.

The rules, chosen so that ``email.policy.default`` (and the clients it stands in
for) reads every value back exactly:

- An unstructured value (Subject, extra headers) that is printable ASCII, does not
  start with a blank and holds no ``=?`` is written as it is, folded before a blank
  so lines stay within 78 octets where the words allow. Any other value is written
  entirely as UTF-8 encoded words (Q or B, whichever is shorter); blanks between
  encoded words are ignored by readers, so all the text, blanks included, is inside
  the words, and no word splits a character.
- A display name made of atoms is written bare, other ASCII names as a quoted
  string, anything else (or ``=?``) as one encoded word (see :func:`mailbox`)
  restricted to the characters RFC 2047 allows in a phrase.
- A parameter such as ``filename`` is quoted when it is short printable ASCII, else
  written per RFC 2231 (``filename*0*=utf-8''...``), split on character boundaries.

Folding only ever adds ``CRLF`` before an existing blank, so unfolding restores the
value; no line is longer than 998 octets.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable

__all__ = ["address_field", "fold", "mailbox", "param_tokens", "unstructured_field"]

#: Where folding aims: RFC 5322 recommends 78 characters a line.
MAX_LINE = 78
#: The longest encoded word RFC 2047 allows.
MAX_WORD = 75
_OVERHEAD = len("=?utf-8?q??=")
_LONGEST_NAME_WORD = 980  # "Reply-To: " + word + "," stays within 998

# Characters that may stand for themselves in a Q-encoded word inside a phrase
# (RFC 2047 section 5 (3)); the most restrictive rule, so it is right everywhere.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_MAP = {b: chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in range(256)}
_ATOM_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")
_CHUNKS = re.compile(r"[ \t]*[^ \t]+|[ \t]+$")
# RFC 2231 attribute-char: printable ASCII but blanks, "*", "'", "%" and tspecials.
_ATTR_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")
# For str.translate over the UTF-8 bytes read as Latin-1: one C pass for the whole value.
_PCT_MAP = {b: chr(b) if b in _ATTR_SAFE else f"%{b:02X}" for b in range(256)}
_MAX_PARAM = 60  # characters of a parameter's value on one line


def fold(name: str, tokens: Iterable[str]) -> bytes:
    """Write ``Name: tok tok ...`` with CRLF inserted before a blank when a line would pass 78.

    Tokens hold no blanks a reader must keep as they are (or are short enough not
    to need folding); one space separates them, which unfolding keeps.
    """
    lines: list[str] = []
    line = name + ":"
    empty = True
    for token in tokens:
        if not empty and len(line) + 1 + len(token) > MAX_LINE:
            lines.append(line)
            line = " " + token
        else:
            line = f"{line} {token}"
        empty = False
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def encoded_words(text: str, *, first: int = MAX_WORD) -> list[str]:
    """Split ``text`` into UTF-8 encoded words; the first at most ``first`` long, the rest 75.

    Q or B, whichever is shorter for the whole text. Never splits a character
    between two words (RFC 2047 section 5).
    """
    raw = text.encode("utf-8")
    q = raw.decode("latin-1").translate(_Q_MAP)
    budget = max(first - _OVERHEAD, 16)  # room for the longest character (12)
    words: list[str] = []
    if len(q) <= (len(raw) + 2) // 3 * 4:
        while len(q) > budget:
            cut = _character_start(q, budget, "=")
            words.append(f"=?utf-8?q?{q[:cut]}?=")
            q = q[cut:]
            budget = MAX_WORD - _OVERHEAD
        words.append(f"=?utf-8?q?{q}?=")
        return words
    limit = budget // 4 * 3
    while len(raw) > limit:
        cut = limit
        while raw[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            cut -= 1
        words.append(_b_word(raw[:cut]))
        raw = raw[cut:]
        limit = (MAX_WORD - _OVERHEAD) // 4 * 3
    words.append(_b_word(raw))
    return words


def _character_start(encoded: str, cut: int, escape: str) -> int:
    """The last position at or before ``cut`` where a character of ``encoded`` starts.

    ``encoded`` writes some bytes of UTF-8 as ``escape`` and two hex digits (Q
    encoding's ``=XX``, RFC 2231's ``%XX``): a cut must not fall inside such an
    escape, nor before the escape of a continuation byte (80-BF) of a character.
    """
    while (
        encoded[cut - 1] == escape
        or encoded[cut - 2] == escape
        or (encoded[cut] == escape and encoded[cut + 1] in "89AB")
    ):
        cut -= 1
    return cut


def _b_word(raw: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(raw, newline=False).decode("ascii") + "?="


def unstructured_field(name: str, value: str) -> bytes:
    """Write an unstructured header (Subject, extra headers) so it reads back as ``value``."""
    if (
        value.isascii()
        and _PRINTABLE_ASCII.fullmatch(value.replace("\t", " "))
        and "=?" not in value
        and value[:1] not in (" ", "\t")
    ):
        chunks = _CHUNKS.findall(value)
        if all(len(chunk) < 900 for chunk in chunks):
            return _fold_chunks(name, chunks)
    return fold(name, encoded_words(value, first=MAX_LINE - len(name) - 2))


def _fold_chunks(name: str, chunks: list[str]) -> bytes:
    # Each chunk carries its own leading blanks, kept exactly; a fold goes before them.
    lines: list[str] = []
    line = f"{name}: "
    fresh = True
    for chunk in chunks:
        if not fresh and len(line) + len(chunk) > MAX_LINE and chunk[0] in " \t" and chunk.strip():
            lines.append(line)
            line = chunk
        else:
            line += chunk
        fresh = False
    lines.append(line.rstrip(" ") if not chunks else line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def mailbox(name: str, addr: str) -> list[str]:
    """Tokens for one mailbox: the display name (bare, quoted or encoded) and ``<addr>``."""
    if not name:
        return [addr]
    if "=?" not in name and name.isascii():
        if _ATOM_NAME.fullmatch(name) and all(len(word) < 900 for word in name.split(" ")):
            return [*name.split(" "), f"<{addr}>"]
        if _PRINTABLE_ASCII.fullmatch(name) and len(name) < 900:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            return [f'"{quoted}"', f"<{addr}>"]
    # One encoded word, even past RFC 2047's 75 characters: the standard library
    # reads blanks between encoded words in a phrase as spaces (RFC 2047 says to
    # drop them), so a split name reads back differently in different clients.
    # Readers accept long words; only the 998-octet line limit is hard.
    return [*encoded_words(name, first=_LONGEST_NAME_WORD), f"<{addr}>"]


def address_field(name: str, mailboxes: Iterable[list[str]]) -> bytes:
    """Write an address list header from :func:`mailbox` token lists, comma-separated."""
    tokens: list[str] = []
    for box in mailboxes:
        if tokens:
            tokens[-1] += ","
        tokens.extend(box)
    return fold(name, tokens)


def param_tokens(key: str, value: str) -> list[str]:
    """Tokens for one MIME parameter, quoted or RFC 2231 encoded (split when long)."""
    short = len(value) <= _MAX_PARAM
    if short and value.isascii() and _PRINTABLE_ASCII.fullmatch(value) and "=?" not in value:
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return [f'{key}="{quoted}"']
    whole = value.encode("utf-8").decode("latin-1").translate(_PCT_MAP)
    if len(key) + len(whole) <= _MAX_PARAM:
        return [f"{key}*=utf-8''{whole}"]
    segments: list[str] = []
    rest = "utf-8''" + whole
    while len(rest) > _MAX_PARAM:
        cut = _character_start(rest, _MAX_PARAM, "%")
        segments.append(rest[:cut])
        rest = rest[cut:]
    segments.append(rest)
    last = len(segments) - 1
    return [f"{key}*{i}*={seg}" + (";" if i < last else "") for i, seg in enumerate(segments)]
