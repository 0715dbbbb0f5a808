"""Attachments: reading, content types, PDF checks with pypdf, the size limit."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest

from mailbill import Address, Attachment, AttachmentError, HeaderInjectionError, OutgoingMessage


def _pdf(pages: int = 1, *, user_password: str | None = None) -> bytes:
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("Faktura.PDF", "application/pdf"),
        ("e-faktura.xml", "application/xml"),
        ("rader.csv", "text/csv"),
        ("logo.png", "image/png"),
        ("foto.JPG", "image/jpeg"),
        ("arkiv.zip", "application/zip"),
        ("noext", "application/octet-stream"),
        ("data.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed_from_the_name(filename: str, content_type: str) -> None:
    """This test ensures that the content type comes from the file name when not given."""
    content = _pdf() if content_type == "application/pdf" else b"data"
    assert Attachment.from_bytes(content, filename).content_type == content_type


def test_explicit_content_type_wins_and_is_checked() -> None:
    """This test ensures that a given content type is used, lower-cased, and must be type/subtype."""
    assert Attachment.from_bytes(b"x", "a.bin", content_type="Text/Plain").content_type == "text/plain"
    with pytest.raises(AttachmentError, match=r"a.bin"):
        Attachment.from_bytes(b"x", "a.bin", content_type="text")
    with pytest.raises(AttachmentError):
        Attachment.from_bytes(b"x", "a.bin", content_type="text/plain; charset=utf-8")


def test_from_path_reads_the_file(tmp_path: Path) -> None:
    """This test ensures that from_path reads bytes and uses the base name unless one is given."""
    path = tmp_path / "Räkning 1001.pdf"
    pdf = _pdf(3)
    path.write_bytes(pdf)
    att = Attachment.from_path(path)
    assert (att.filename, att.content, att.pages, att.encrypted, att.size) == (
        "Räkning 1001.pdf",
        pdf,
        3,
        False,
        len(pdf),
    )
    assert Attachment.from_path(str(path), filename="Faktura.pdf").filename == "Faktura.pdf"


def test_from_path_missing_file_names_it(tmp_path: Path) -> None:
    """This test ensures that an unreadable file raises AttachmentError naming the path."""
    with pytest.raises(AttachmentError, match=r"missing.pdf") as info:
        Attachment.from_path(tmp_path / "missing.pdf")
    assert info.value.filename == "missing.pdf"


def test_encrypted_pdf_is_allowed_and_flagged() -> None:
    """This test ensures that a password-protected PDF is accepted and marked encrypted."""
    att = Attachment.from_bytes(_pdf(2, user_password="secret"), "protected.pdf")
    assert att.encrypted
    assert att.pages is None


def test_pdf_encrypted_with_empty_user_password_counts_pages() -> None:
    """This test ensures that a PDF with only an owner password is opened and its pages counted."""
    att = Attachment.from_bytes(_pdf(2, user_password=""), "owner-only.pdf")
    assert att.encrypted
    assert att.pages == 2


@pytest.mark.parametrize(
    "content",
    [b"this is not a pdf", b"", b"%PDF-1.7\nthis is garbage and no xref\n%%EOF", b"<html>%PDF-</html>"],
)
def test_fake_pdf_raises_naming_the_file(content: bytes) -> None:
    """This test ensures that a file claiming to be a PDF that is not raises AttachmentError naming it."""
    with pytest.raises(AttachmentError, match=r"Faktura_1001.pdf") as info:
        Attachment.from_bytes(content, "Faktura_1001.pdf")
    assert info.value.filename == "Faktura_1001.pdf"


def test_fake_pdf_by_content_type_is_refused() -> None:
    """This test ensures that the check follows the content type, not only the file extension."""
    with pytest.raises(AttachmentError, match=r"invoice.bin"):
        Attachment.from_bytes(b"nope", "invoice.bin", content_type="application/pdf")


def test_pdf_without_pages_is_refused() -> None:
    """This test ensures that a PDF with zero pages raises AttachmentError."""
    with pytest.raises(AttachmentError, match="without pages"):
        Attachment.from_bytes(_pdf(0), "empty.pdf")


def test_pdf_pages_come_from_the_page_tree_or_from_walking_it() -> None:
    """This test ensures that the page count is the tree's /Count, or the pages walked when it has none."""
    three = _pdf(3)
    assert Attachment.from_bytes(three, "three.pdf").pages == 3
    uncounted = three.replace(b"/Count 3", b"/Cnt 3  ")  # same length: the xref offsets stay right
    assert uncounted != three
    assert Attachment.from_bytes(uncounted, "uncounted.pdf").pages == 3


def test_a_pdf_with_a_broken_cross_reference_table_is_still_read() -> None:
    """This test ensures that a PDF pypdf refuses in strict mode is read leniently, as viewers do.

    Inserting a comment after the header moves every object away from the offset
    its cross-reference entry gives.
    """
    shifted = _pdf(2).replace(b"\n", b"\n%moved\n", 1)
    with pytest.raises(pypdf.errors.PdfReadError):
        pypdf.PdfReader(io.BytesIO(shifted), strict=True)
    assert Attachment.from_bytes(shifted, "shifted.pdf").pages == 2


def test_a_well_formed_pdf_is_read_once_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test ensures that the lenient read, which checks every listed object, is only a fallback."""
    opened: list[bool] = []
    real = pypdf.PdfReader

    def reader(stream: io.BytesIO, *, strict: bool) -> pypdf.PdfReader:
        opened.append(strict)
        return real(stream, strict=strict)

    monkeypatch.setattr(pypdf, "PdfReader", reader)
    assert Attachment.from_bytes(_pdf(3), "three.pdf").pages == 3
    assert opened == [True]
    assert Attachment.from_bytes(_pdf(2).replace(b"\n", b"\n%moved\n", 1), "moved.pdf").pages == 2
    assert opened == [True, True, False]


@pytest.mark.parametrize("filename", ["", "  ", "dir/a.pdf", "..\\a.pdf", "/etc/passwd"])
def test_filename_must_be_a_plain_name(filename: str) -> None:
    """This test ensures that empty names or names with directories are refused."""
    with pytest.raises(AttachmentError):
        Attachment.from_bytes(b"x", filename, content_type="text/plain")


def test_filename_surrounding_whitespace_is_removed() -> None:
    """This test ensures that leading/trailing blanks (which clients drop) are stripped from names."""
    assert Attachment.from_bytes(b"x", "  a.txt ").filename == "a.txt"


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "\t", "\u0085", "\u2028", "\u2029", "\x7f"])
def test_control_characters_in_filenames(bad: str) -> None:
    """This test ensures that control characters in a file name raise HeaderInjectionError."""
    with pytest.raises(HeaderInjectionError):
        Attachment.from_bytes(b"x", f"a{bad}b.txt")


def test_filename_with_encoded_line_break_is_refused() -> None:
    """This test ensures that an encoded word decoding to CRLF in a file name is refused."""
    with pytest.raises(HeaderInjectionError):
        Attachment.from_bytes(b"x", "=?utf-8?q?a=0D=0AX-Evil:_1?=.txt")


def test_inline_needs_a_valid_content_id() -> None:
    """This test ensures that inline images need a Content-ID of the form name@domain."""
    with pytest.raises(AttachmentError, match="content_id"):
        Attachment.from_bytes(b"x", "logo.png", inline=True)
    for bad in ("<logo@x.se>", "logo", "lo go@x.se"):
        with pytest.raises(AttachmentError, match="Content-ID"):
            Attachment.from_bytes(b"x", "logo.png", inline=True, content_id=bad)
    with pytest.raises(HeaderInjectionError):
        Attachment.from_bytes(b"x", "logo.png", inline=True, content_id="a\r\n@x.se")


def test_content_must_be_bytes() -> None:
    """This test ensures that str content is refused rather than silently encoded."""
    with pytest.raises(AttachmentError, match="bytes"):
        Attachment.from_bytes("text", "a.txt")  # type: ignore[arg-type]
    assert Attachment.from_bytes(bytearray(b"ab"), "a.txt").content == b"ab"


def _message(*attachments: Attachment, **kwargs: int) -> OutgoingMessage:
    return OutgoingMessage(
        sender=Address("a@example.se"),
        to=(Address("b@example.se"),),
        text="x",
        attachments=attachments,
        **kwargs,
    )


def test_size_limit_default_is_20_mb_total() -> None:
    """This test ensures that attachments over 20 MB in total are refused, and at the limit accepted."""
    half = 10 * 1024 * 1024
    assert (
        len(
            _message(
                Attachment.from_bytes(b"\0" * half, "a.bin"), Attachment.from_bytes(b"\0" * half, "b.bin")
            ).attachments
        )
        == 2
    )
    with pytest.raises(AttachmentError, match="limit"):
        _message(
            Attachment.from_bytes(b"\0" * half, "a.bin"), Attachment.from_bytes(b"\0" * (half + 1), "b.bin")
        )


def test_size_limit_is_configurable() -> None:
    """This test ensures that max_attachment_bytes sets the per-message limit."""
    att = Attachment.from_bytes(b"0123456789", "a.bin")
    assert _message(att, max_attachment_bytes=10).attachments == (att,)
    with pytest.raises(AttachmentError, match="11 bytes"):
        _message(att, Attachment.from_bytes(b"x", "b.bin"), max_attachment_bytes=10)


@pytest.mark.parametrize(
    "content_type", ["text/plän", "text/pl ain", "a/b/c", "/pdf", "application/", "a/b;c=d"]
)
def test_content_type_must_be_ascii_tokens(content_type: str) -> None:
    """This test ensures that a content type is two RFC 2045 tokens, nothing else."""
    with pytest.raises(AttachmentError, match="MIME type"):
        Attachment.from_bytes(b"x", "a.bin", content_type=content_type)


def test_content_id_must_be_ascii() -> None:
    """This test ensures that a non-ASCII Content-ID is refused (it goes into a header as is)."""
    with pytest.raises(AttachmentError, match="Content-ID"):
        Attachment.from_bytes(b"x", "logo.png", inline=True, content_id="logö@x.se")


def test_attachments_must_be_attachment_objects() -> None:
    """This test ensures that a raw tuple or path in attachments is refused with AttachmentError."""
    with pytest.raises(AttachmentError, match="expected an Attachment"):
        _message(("a.pdf", b"x"))  # type: ignore[arg-type]
