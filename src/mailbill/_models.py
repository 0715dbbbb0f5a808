"""Plain data: addresses, attachments, outgoing messages and send receipts.

Every class here is a frozen, slotted dataclass that validates itself on
construction, so a value that exists is a value that can be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address as _HeaderAddress
from pathlib import Path
from typing import TYPE_CHECKING

from mailbill import _addresses, _attachments
from mailbill._safety import (
    RESERVED_HEADERS,
    check_field_name,
    check_header_value,
    check_message_id,
    make_message_id,
)
from mailbill.errors import (
    AddressError,
    AttachmentError,
    DocumentError,
    HeaderInjectionError,
    RefusedRecipient,
)

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ["Address", "Attachment", "OutgoingMessage", "SendReceipt"]


@dataclass(frozen=True, slots=True)
class Address:
    """One e-mail address with an optional display name, validated and normalised.

    The address is checked with email-validator (no DNS lookup unless asked for):
    the domain is lower-cased and internationalised domains are kept in Unicode,
    with their ASCII (IDNA) form in :attr:`ascii_email`.

    Example:
        >>> a = Address.parse("Anna Andersson <anna@Example.SE>")
        >>> a.email, a.name
        ('anna@example.se', 'Anna Andersson')
        >>> str(a)
        'Anna Andersson <anna@example.se>'

    Attributes:
        email: The normalised address (``local@domain``).
        name: The display name, or ``""``.
        ascii_email: The address with an IDNA-encoded domain, or ``None`` when the
            local part itself is not ASCII (such an address needs SMTPUTF8).
    """

    email: str
    name: str = ""
    ascii_email: str | None = field(init=False, repr=False, compare=False)
    # The encoded header tokens, written once per Address (see mailbill._mime).
    _tokens: dict[str, list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        check_header_value(self.name, field="display name", allow_tab=False)
        validated = _addresses.validate(self.email)
        object.__setattr__(self, "email", validated.normalized)
        object.__setattr__(self, "name", " ".join(self.name.split()))
        object.__setattr__(self, "ascii_email", validated.ascii_email)

    @classmethod
    def parse(cls, text: str, /, *, check_deliverability: bool = False) -> Address:
        """Parse ``"Name <local@domain>"`` or a bare ``local@domain``.

        Args:
            text: One address, with or without a display name.
            check_deliverability: Look the domain up in DNS (off by default; the
                caller must have network access).

        Raises:
            AddressError: the text is not one valid address.
            HeaderInjectionError: it holds a line break or control character.
        """
        if not isinstance(text, str):
            raise AddressError(f"expected a string, got {type(text).__name__}")
        check_header_value(text, field="address", allow_tab=False)
        name, addr = _addresses.split_display_name(text)
        if not addr:
            raise AddressError(f"{text!r} holds no e-mail address", address=text)
        if "<" in addr or ">" in addr:
            raise AddressError(f"{text!r} is not one e-mail address", address=text)
        if check_deliverability:
            _addresses.validate(addr, check_deliverability=True)
        return cls(addr, name)

    @classmethod
    def parse_list(cls, values: str | Iterable[str | Address], /) -> tuple[Address, ...]:
        """Parse a comma- or semicolon-separated string, or an iterable, into addresses.

        Raises:
            AddressError: any element is not a valid address (the message names it).
        """
        return _addresses.parse_many(values)

    @property
    def domain(self) -> str:
        """The domain part, in Unicode."""
        return self.email.rpartition("@")[2]

    @property
    def needs_smtputf8(self) -> bool:
        """Whether the local part is not ASCII, so that only SMTPUTF8 can carry it."""
        return self.ascii_email is None

    @property
    def envelope(self) -> str:
        """The form for the SMTP envelope: ASCII when possible, else UTF-8."""
        return self.ascii_email or self.email

    def __str__(self) -> str:
        if not self.name:
            return self.email
        local, _, domain = self.email.rpartition("@")
        return str(_HeaderAddress(display_name=self.name, username=local, domain=domain))


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message.

    PDFs (by content type) are opened with pypdf on construction: a file that
    claims to be a PDF and is not raises :class:`~mailbill.AttachmentError`;
    encrypted PDFs are allowed and flagged.

    Attributes:
        filename: The name the recipient sees (no directories).
        content: The bytes.
        content_type: ``type/subtype``; guessed from the name when empty.
        inline: Show inside the HTML body (needs :attr:`content_id`) instead of
            as a separate attachment.
        content_id: The Content-ID an HTML body refers to as ``cid:...``.
        pages: For a PDF, its number of pages (``None`` if encrypted and unopened).
        encrypted: For a PDF, whether it is encrypted.
    """

    filename: str
    content: bytes = field(repr=False)
    content_type: str = ""
    inline: bool = False
    content_id: str | None = None
    pages: int | None = field(init=False, default=None, compare=False)
    encrypted: bool = field(init=False, default=False, compare=False)

    def __post_init__(self) -> None:
        check_header_value(self.filename, field="attachment filename", allow_tab=False)
        # Mail clients drop blanks around a file name, so keep what they will show.
        object.__setattr__(self, "filename", self.filename.strip())
        if not self.filename or "/" in self.filename or "\\" in self.filename:
            raise AttachmentError(
                f"attachment filename {self.filename!r} must be a plain file name without directories",
                filename=self.filename,
            )
        if not isinstance(self.content, bytes | bytearray | memoryview):
            raise AttachmentError(
                f"attachment {self.filename!r}: content must be bytes, not {type(self.content).__name__}",
                filename=self.filename,
            )
        object.__setattr__(self, "content", bytes(self.content))
        content_type = self.content_type or _attachments.guess_content_type(self.filename)
        content_type = _attachments.check_content_type(content_type, self.filename)
        object.__setattr__(self, "content_type", content_type)
        if self.content_id is not None:
            check_header_value(self.content_id, field="Content-ID", allow_tab=False)
            if (
                any(c in self.content_id for c in "<> ")
                or "@" not in self.content_id
                or not self.content_id.isascii()
                or len(self.content_id) > 250
            ):
                raise AttachmentError(
                    f"attachment {self.filename!r}: Content-ID {self.content_id!r} must look like "
                    "'name@domain', without angle brackets",
                    filename=self.filename,
                )
        if self.inline and self.content_id is None:
            raise AttachmentError(
                f"inline attachment {self.filename!r} needs a content_id", filename=self.filename
            )
        if content_type == "application/pdf":
            pages, encrypted = _attachments.inspect_pdf(self.content, self.filename)
            object.__setattr__(self, "pages", pages)
            object.__setattr__(self, "encrypted", encrypted)

    @classmethod
    def from_bytes(
        cls,
        content: bytes,
        /,
        filename: str,
        *,
        content_type: str = "",
        inline: bool = False,
        content_id: str | None = None,
    ) -> Attachment:
        """Make an attachment from bytes in memory (the content type guessed from the name)."""
        return cls(filename, content, content_type, inline, content_id)

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        /,
        *,
        filename: str | None = None,
        content_type: str = "",
        inline: bool = False,
        content_id: str | None = None,
    ) -> Attachment:
        """Read a file from disk; the recipient sees its base name unless ``filename`` is given.

        Raises:
            AttachmentError: the file cannot be read, or is not what it claims to be.
        """
        path = Path(path)
        name = filename if filename is not None else path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AttachmentError(f"cannot read attachment {str(path)!r}: {exc}", filename=name) from exc
        return cls(name, data, content_type, inline, content_id)

    @property
    def size(self) -> int:
        """The size of the content in bytes."""
        return len(self.content)


def _check_body(body: object, part: str) -> None:
    if body is None:
        return
    if not isinstance(body, str):
        raise DocumentError(f"the {part} body must be a string, not {type(body).__name__}")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DocumentError(
            f"the {part} body cannot be encoded as UTF-8 (lone surrogate at position {exc.start})"
        ) from None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One e-mail, ready to compose: who, what, and what is attached.

    Everything is validated on construction; :meth:`as_bytes` composes the MIME
    message once and caches it, so a retried message is byte-for-byte the same.

    Example:
        >>> msg = OutgoingMessage(
        ...     sender=Address.parse("Faktura <faktura@example.se>"),
        ...     to=Address.parse_list("Anna Andersson <anna@example.se>"),
        ...     subject="Faktura 1001",
        ...     text="Hej Anna!",
        ... )
        >>> msg.recipients
        ('anna@example.se',)

    Attributes:
        sender: The From address (exactly one).
        to: Primary recipients.
        subject: The subject line (one line).
        text: The plain-text body, or ``None``.
        html: The HTML body, or ``None``.
        cc: Copy recipients.
        bcc: Blind-copy recipients (in the envelope only, never in a header).
        reply_to: Reply-To addresses.
        attachments: Files attached, in order.
        headers: Extra headers as ``(name, value)`` pairs (not the ones mailbill writes).
        message_id: The Message-ID; a new one is made when empty, on
            :attr:`message_id_domain` or else the sender's domain.
        date: The Date header; now (UTC) when not given.
        business_key: The host's key for the document (``"invoice/2024/1001"``).
        envelope_sender: The bounce address (SMTP MAIL FROM) when not the sender.
        max_attachment_bytes: The limit on the attachments' total size.
        message_id_domain: The domain for a new Message-ID (a host's own domain
            when it sends from its customers' addresses); default: the sender's.
    """

    sender: Address
    to: tuple[Address, ...] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    message_id: str = ""
    date: datetime | None = None
    business_key: str | None = None
    envelope_sender: Address | None = None
    max_attachment_bytes: int = _attachments.DEFAULT_MAX_ATTACHMENT_BYTES
    message_id_domain: str | None = None
    _cache: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.sender, Address):
            raise AddressError(
                f"sender must be one Address, got {type(self.sender).__name__}; "
                "use Address.parse() for a string"
            )
        for name in ("to", "cc", "bcc", "reply_to"):
            object.__setattr__(self, name, _addresses.parse_many(getattr(self, name)))
        if not (self.to or self.cc or self.bcc):
            raise AddressError("a message needs at least one recipient (to, cc or bcc)")
        check_header_value(self.subject, field="Subject")
        if self.text is None and self.html is None:
            object.__setattr__(self, "text", "")
        for part in ("text", "html"):
            _check_body(getattr(self, part), part)
        atts = tuple(self.attachments)
        for att in atts:
            if not isinstance(att, Attachment):
                raise AttachmentError(f"expected an Attachment, got {type(att).__name__}")
        total = sum(att.size for att in atts)
        if total > self.max_attachment_bytes:
            raise AttachmentError(
                f"attachments total {total} bytes, over the limit of {self.max_attachment_bytes} bytes"
            )
        object.__setattr__(self, "attachments", atts)
        raw_headers: Iterable[tuple[str, str]] = (
            self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        )
        headers = tuple((str(k), str(v)) for k, v in raw_headers)
        for key, value in headers:
            check_field_name(key)
            if key.lower() in RESERVED_HEADERS:
                raise HeaderInjectionError(
                    f"header {key!r} is written by mailbill; set it through its own field", field=key
                )
            check_header_value(value, field=key)
        object.__setattr__(self, "headers", headers)
        if self.message_id:
            check_message_id(self.message_id)
        else:
            domain = (self.sender.ascii_email or self.sender.email).rpartition("@")[2]
            if self.message_id_domain is not None:
                check_header_value(self.message_id_domain, field="Message-ID domain", allow_tab=False)
                probe = Address(f"postmaster@{self.message_id_domain}")  # validates the domain
                domain = (probe.ascii_email or probe.email).rpartition("@")[2]
            object.__setattr__(self, "message_id", make_message_id(domain))
        if self.date is None:
            object.__setattr__(self, "date", datetime.now(UTC).replace(microsecond=0))
        elif self.date.tzinfo is None:
            raise HeaderInjectionError("date must be timezone-aware", field="Date")
        if self.business_key is not None:
            check_header_value(self.business_key, field="business_key", allow_tab=False)
        if self.envelope_sender is not None and not isinstance(self.envelope_sender, Address):
            raise AddressError("envelope_sender must be an Address")

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (to, cc, bcc), de-duplicated, in order."""
        seen: dict[str, None] = {}
        for addr in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(addr.envelope, None)
        return tuple(seen)

    @property
    def mail_from(self) -> str:
        """The envelope sender (bounce address) for SMTP MAIL FROM."""
        return (self.envelope_sender or self.sender).envelope

    @property
    def smtputf8(self) -> bool:
        """Whether any address needs SMTPUTF8 (a non-ASCII local part)."""
        addrs = (self.sender, *self.to, *self.cc, *self.bcc, *self.reply_to)
        if self.envelope_sender is not None:
            addrs = (*addrs, self.envelope_sender)
        return any(a.needs_smtputf8 for a in addrs)

    def as_email_message(self) -> EmailMessage:
        """Compose the message as a standard-library :class:`email.message.EmailMessage`."""
        from mailbill._compose import build_email_message

        return build_email_message(self)

    def as_bytes(self) -> bytes:
        """The composed message in wire form (CRLF line ends), built once and cached."""
        cached = self._cache.get("bytes")
        if isinstance(cached, bytes):
            return cached
        from mailbill import _wire
        from mailbill._compose import to_wire

        data, dots = to_wire(self)
        self._cache["bytes"] = data
        _wire.note(self, dots)
        return data


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What a transport reports after handing a message on.

    Attributes:
        message_id: The Message-ID of the message sent.
        transport: The name of the transport (``"smtp"``, ``"file"``, ...).
        accepted: The envelope recipients the transport accepted.
        refused: Recipients the server refused while accepting others.
        reply_code: The server's final reply code (250 for SMTP), when there is one.
        reply_text: The server's final reply text, when there is one.
        handed_off: ``True`` when the transport only passed the message on (a
            pickup folder, Outlook's Outbox or Drafts) and cannot say it was sent.
        location: Where it was handed (a file path, an Outlook folder), when that applies.
        sent_at: When the transport finished (UTC).
    """

    message_id: str
    transport: str
    accepted: tuple[str, ...] = ()
    refused: tuple[RefusedRecipient, ...] = ()
    reply_code: int | None = None
    reply_text: str | None = None
    handed_off: bool = False
    location: str | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
