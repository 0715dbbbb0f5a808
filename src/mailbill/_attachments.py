"""Checks for attachment content: the content type from the name, PDFs with pypdf."""

from __future__ import annotations

import io
import logging
import mimetypes
import re
from typing import TYPE_CHECKING

from mailbill.errors import AttachmentError

if TYPE_CHECKING:
    import pypdf

logger = logging.getLogger(__name__)

#: The default limit on the total size of a message's attachments (SMTP servers
#: commonly refuse messages over 20-25 MB once base64 has grown them by a third).
DEFAULT_MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024

# RFC 2045 token characters (printable ASCII but blanks and tspecials).
_TOKEN = re.compile(r"[a-z0-9!#$%&'*+\-.^_`{|}~]+")

_KNOWN_TYPES = {
    ".pdf": "application/pdf",
    ".xml": "application/xml",  # e-invoices (UBL, ZUGFeRD/Factur-X sidecars)
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".zip": "application/zip",
}


def guess_content_type(filename: str) -> str:
    """Guess a MIME type from a file name; ``application/octet-stream`` when unknown.

    A small table is consulted first, so the answer does not depend on the host's
    ``mimetypes`` configuration for the files business documents use.
    """
    lower = filename.lower()
    dot = lower.rfind(".")
    if dot >= 0 and lower[dot:] in _KNOWN_TYPES:
        return _KNOWN_TYPES[lower[dot:]]
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def check_content_type(content_type: str, filename: str) -> str:
    """Return ``content_type`` lower-cased, or raise if it is not ``type/subtype``."""
    maintype, _, subtype = content_type.strip().lower().partition("/")
    # RFC 6838 limits each name to 127 characters.
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)) or len(content_type) > 255:
        raise AttachmentError(
            f"attachment {filename!r}: {content_type!r} is not a MIME type of the form type/subtype",
            filename=filename,
        )
    return f"{maintype}/{subtype}"


def _page_count(reader: pypdf.PdfReader) -> int:
    """The page tree's ``/Count``, as PDF viewers show it; the tree is walked only without one.

    Walking every page object (``len(reader.pages)``) took as long as opening
    the file, for the same answer in any PDF a viewer shows correctly.
    """
    from pypdf.generic import DictionaryObject

    tree = reader.root_object.get("/Pages")
    tree = tree.get_object() if tree is not None else None
    count = tree.get("/Count") if isinstance(tree, DictionaryObject) else None
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return int(count)
    return len(reader.pages)


def _read_pdf(data: bytes, *, strict: bool) -> tuple[int | None, bool]:
    """``(pages, encrypted)`` as pypdf reads them, strictly or leniently.

    A strict read is tried first: the lenient one also checks every object the
    cross-reference table lists, which took half the time of opening a small
    PDF, and more the more objects it has. Any error of the strict read sends
    the file to the lenient one, so a PDF is refused only when that fails too.
    """
    import pypdf
    from pypdf.errors import PyPdfError

    reader = pypdf.PdfReader(io.BytesIO(data), strict=strict)
    encrypted = reader.is_encrypted
    if encrypted:
        try:
            if not reader.decrypt(""):
                return None, True
        except (PyPdfError, NotImplementedError):
            if strict:
                raise
            return None, True
    return _page_count(reader), encrypted


def inspect_pdf(data: bytes, filename: str) -> tuple[int | None, bool]:
    """Open a PDF with pypdf; return ``(pages, encrypted)``.

    ``pages`` is ``None`` for an encrypted PDF that cannot be opened without a
    password (it is still sent: many invoices are protected on purpose).

    Raises:
        AttachmentError: the data is not a PDF pypdf can open, or it has no page.
    """
    from pypdf.errors import PyPdfError  # pypdf is only imported when there is a PDF

    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise AttachmentError(
            f"attachment {filename!r} claims to be a PDF but does not start with %PDF-",
            filename=filename,
        )
    try:
        try:
            pages, encrypted = _read_pdf(data, strict=True)
        except Exception:  # strict parsing refuses what viewers open: read it leniently
            pages, encrypted = _read_pdf(data, strict=False)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise AttachmentError(
            f"attachment {filename!r} is not a readable PDF: {exc}", filename=filename
        ) from exc
    if pages is not None and pages < 1:
        raise AttachmentError(f"attachment {filename!r} is a PDF without pages", filename=filename)
    return pages, encrypted
