"""The host application's input: a document and the parties it is for.

These classes hold host data as it is, not as mailbill would like it: a party's
e-mail addresses are raw strings and may be empty, mistyped or blocked. Nothing
here validates an address; the router does that per address and records why it
skipped one, so one bad address never stops a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from mailbill._addresses import split_address_list
from mailbill._models import Address, Attachment
from mailbill.errors import DocumentError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Document", "Party", "lookup_path"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


def _frozen_mapping(value: Mapping[str, object] | None, what: str) -> Mapping[str, object]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise DocumentError(f"{what} must be a mapping, got {type(value).__name__}")
    return MappingProxyType(dict(value))


def _raw_emails(value: object) -> tuple[str, ...]:
    # Host data often keeps several addresses in one field ("a@x.se; b@y.se").
    if value is None:
        return ()
    items: Iterable[object] = (value,) if isinstance(value, str | Address) else value  # type: ignore[assignment]
    try:
        iterator: Iterator[object] = iter(items)
    except TypeError:
        raise DocumentError(f"emails must be a string or a list of strings, got {value!r}") from None
    raw: list[str] = []
    for item in iterator:
        if item is None:
            continue
        if isinstance(item, Address):
            raw.append(str(item))
        elif isinstance(item, str):
            raw.extend(split_address_list(item))
        else:
            raise DocumentError(f"an e-mail address must be a string, got {type(item).__name__}")
    return tuple(raw)


@dataclass(frozen=True, slots=True, init=False)
class Party:
    """Someone a document is for: a customer, tenant, resident or guardian.

    Example:
        >>> p = Party("Anna Andersson", emails="anna@example.se; anna@work.example", opt_in={"notice": True})
        >>> p.emails
        ('anna@example.se', 'anna@work.example')
        >>> p.opted_in("notice"), p.opted_in("invoice")
        (True, None)

    Attributes:
        name: The party's name, used as display name of its addresses.
        emails: The addresses as the host has them (raw text; may be invalid). A
            string is split at commas and semicolons; empty entries are dropped.
        language: The party's correspondence language (``"sv"``, ``"de-CH"``), if known.
        role: What the party is to the document (``"customer"``, ``"tenant"``,
            ``"resident"``, ``"guardian"``); routing rules can select by role.
        opt_in: Per document kind, whether the party wants it by e-mail
            (``{"rent_notice": True}``); the key ``"*"`` answers for every kind
            not listed. A kind not listed at all means "not stated".
        fields: Anything else about the party a template or rule may use.
    """

    name: str
    emails: tuple[str, ...]
    language: str | None
    role: str
    opt_in: Mapping[str, bool] = field(hash=False)
    fields: Mapping[str, object] = field(hash=False)

    def __init__(
        self,
        name: str = "",
        emails: str | Address | Iterable[str | Address] | None = (),
        *,
        language: str | None = None,
        role: str = "recipient",
        opt_in: Mapping[str, bool] | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> None:
        # A hand-written __init__ so that ``emails`` may be given as one string of
        # host data while the attribute is always a tuple.
        given: object = name
        if given is None:  # a NULL name column in host data
            name = ""
        elif not isinstance(given, str):
            raise DocumentError(f"party name must be a string, got {type(given).__name__}")
        flags = _frozen_mapping(opt_in, "opt_in")
        for kind, flag in flags.items():
            if not isinstance(flag, bool):
                raise DocumentError(f"opt_in[{kind!r}] of party {name!r} must be True or False")
        if not isinstance(role, str) or not role:
            raise DocumentError(f"role of party {name!r} must be a non-empty string")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "emails", _raw_emails(emails))
        object.__setattr__(self, "language", language)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "opt_in", flags)
        object.__setattr__(self, "fields", _frozen_mapping(fields, "fields"))

    def opted_in(self, kind: str, /) -> bool | None:
        """Whether the party wants documents of ``kind`` by e-mail; ``None`` if not stated."""
        if kind in self.opt_in:
            return self.opt_in[kind]
        return self.opt_in.get("*")


@dataclass(frozen=True, slots=True)
class Document:
    """One business document to deliver: an invoice, a rent notice, a dunning letter.

    Example:
        >>> doc = Document(
        ...     "invoice",
        ...     "invoice/2024/1001",
        ...     recipients=(Party("Anna", emails=("anna@example.se",), language="sv"),),
        ...     fields={"Number": 1001},
        ...     context={"case_manager": {"email": "eva@office.example"}},
        ... )
        >>> doc.template_language
        'sv'

    Attributes:
        kind: The document kind (``"invoice"``, ``"rent_notice"``, ``"dunning/2"``,
            an event type); routing and templates are chosen by it.
        key: The host's business key, unique per document (``"invoice/2024/1001"``).
        recipients: The parties it is for, in order (resident first, then guardian).
        fields: The template context (``{"Customer": {...}, "Number": 1001}``).
        attachments: The files to attach (the invoice PDF).
        language: The language to write in; else the first party's language.
        tenant: The company, owner, association or facility the document is from;
            sender and routing rules may look it up.
        reference: A free reference for people (the invoice number, a case id).
        context: Data for sender and routing rules that is not for the template
            (``{"case_manager": {...}, "client_group": {...}, "office": {...}}``).
    """

    kind: str
    key: str
    _: KW_ONLY
    recipients: tuple[Party, ...] = ()
    fields: Mapping[str, object] = field(default_factory=dict, hash=False)
    attachments: tuple[Attachment, ...] = ()
    language: str | None = None
    tenant: str | None = None
    reference: str | None = None
    context: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("kind", "key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise DocumentError(f"document {name} must be a non-empty string, got {value!r}")
        given: object = self.recipients
        # A single Party is a common slip; accept it rather than iterate its fields.
        parties: tuple[object, ...] = (given,) if isinstance(given, Party) else tuple(self.recipients)
        for party in parties:
            if not isinstance(party, Party):
                raise DocumentError(
                    f"document {self.key!r}: recipients must be Party objects, got {type(party).__name__}"
                )
        object.__setattr__(self, "recipients", parties)
        attachments = tuple(self.attachments)
        for att in attachments:
            if not isinstance(att, Attachment):
                raise DocumentError(
                    f"document {self.key!r}: attachments must be Attachment objects, got {type(att).__name__}"
                )
        object.__setattr__(self, "attachments", attachments)
        object.__setattr__(self, "fields", _frozen_mapping(self.fields, "fields"))
        object.__setattr__(self, "context", _frozen_mapping(self.context, "context"))

    @property
    def template_language(self) -> str | None:
        """The language to render in, which is the document's, else the first party's that has one."""
        if self.language:
            return self.language
        return next((p.language for p in self.recipients if p.language), None)


_MISSING = object()


def lookup_path(document: Document, path: str, /) -> object:
    """Follow a dotted ``path`` in the document's context, then in its fields.

    Each step is a mapping key or, for host objects, an attribute. Returns
    ``None`` when any step is missing, so rules can treat "not there" and "empty"
    alike.

    Example:
        >>> doc = Document("welcome", "w/1", context={"case_manager": {"email": "eva@x.example"}})
        >>> lookup_path(doc, "case_manager.email"), lookup_path(doc, "client_group.email")
        ('eva@x.example', None)
    """
    for root in (document.context, document.fields):
        value: object = root
        for step in path.split("."):
            if isinstance(value, Mapping):
                value = value.get(step, _MISSING)
            else:
                value = getattr(value, step, _MISSING)
            if value is _MISSING or value is None:
                break
        else:
            return value
    return None
