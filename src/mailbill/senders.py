"""Who a document is from: an ordered cascade of sender rules.

Business applications decide the sender by a rule of thumb written down for
support staff: "the case manager, else the client group's address, else the
office's functional address, else its communication address". A
:class:`SenderCascade` is that list: each rule is any callable that takes the
document and returns a sender or nothing, the first usable answer wins, and the
result remembers why every rule before it did not answer.

A :class:`Sender` carries more than the From address: an optional Reply-To, the
name of the transport (account) to send through and an envelope sender, so
"the system's no-reply account with the company's Reply-To" and "one SMTP server
per association" are configuration, not code.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from mailbill._addresses import parse_many
from mailbill._documents import Document, lookup_path
from mailbill._models import Address
from mailbill.errors import (
    AddressError,
    ConfigurationError,
    HeaderInjectionError,
    MailbillError,
    SenderNotResolvedError,
)

__all__ = [
    "RuleOutcome",
    "RuleStatus",
    "Sender",
    "SenderCascade",
    "SenderResolution",
    "SenderRule",
    "field_rule",
    "fixed",
    "mapping_rule",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sender:
    """The From side of a message.

    Example:
        >>> s = Sender.parse("noreply@system.example", reply_to="Billing <billing@acme.example>",
        ...                  transport="system")
        >>> str(s.address), [str(a) for a in s.reply_to], s.transport
        ('noreply@system.example', ['Billing <billing@acme.example>'], 'system')

    Attributes:
        address: The From address and display name.
        reply_to: Where replies go, when not to the From address.
        transport: The name of the transport (account) to send through; ``None``
            means the mailer's default.
        envelope_sender: The bounce address (SMTP MAIL FROM), when not the From address.
    """

    address: Address
    reply_to: tuple[Address, ...] = ()
    transport: str | None = None
    envelope_sender: Address | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.address, Address):
            raise ConfigurationError(
                f"Sender.address must be an Address, got {type(self.address).__name__}; use Sender.parse()"
            )
        object.__setattr__(self, "reply_to", parse_many(self.reply_to))
        if self.envelope_sender is not None and not isinstance(self.envelope_sender, Address):
            raise ConfigurationError("Sender.envelope_sender must be an Address")
        if self.transport is not None and (not isinstance(self.transport, str) or not self.transport):
            raise ConfigurationError("Sender.transport must be a non-empty name or None")

    @classmethod
    def parse(
        cls,
        address: str | Address,
        /,
        *,
        reply_to: str | Address | Iterable[str | Address] = (),
        transport: str | None = None,
        envelope_sender: str | Address | None = None,
    ) -> Sender:
        """Build a sender from text (``"Name <addr>"``) or an :class:`~mailbill.Address`.

        Raises:
            AddressError: an address does not parse.
        """
        addr = address if isinstance(address, Address) else Address.parse(address)
        envelope = Address.parse(envelope_sender) if isinstance(envelope_sender, str) else envelope_sender
        return cls(addr, parse_many(reply_to), transport, envelope)

    def __str__(self) -> str:
        text = str(self.address)
        if self.reply_to:
            text += f" (Reply-To: {', '.join(str(a) for a in self.reply_to)})"
        if self.transport:
            text += f" via {self.transport!r}"
        return text


class SenderRule(Protocol):
    """A sender rule: any callable taking the document and returning a sender or nothing.

    A rule returns a :class:`Sender`, an :class:`~mailbill.Address`, the text of
    an address, or ``None`` (or ``""``) for "no answer here, ask the next rule".
    A plain function fits. In traces a rule is named by its ``name`` attribute,
    else its ``__name__``.

    Example:
        >>> def office_noreply(document):
        ...     return "noreply@office.example" if document.kind == "welcome" else None
    """

    def __call__(self, document: Document, /) -> Sender | Address | str | None:
        """Return the sender for ``document``, or ``None`` when this rule has none."""
        ...


class RuleStatus(enum.Enum):
    """Why a rule of a cascade did or did not answer (a closed set)."""

    ANSWERED = "answered"
    NO_VALUE = "no value"
    INVALID_ADDRESS = "invalid address"
    DOMAIN_NOT_ALLOWED = "domain not allowed"
    RAISED = "rule raised an error"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule of a cascade gave.

    Attributes:
        rule: The rule's name.
        status: Whether it answered, and if not, why.
        detail: A readable detail (the value given, the error).
        value: The text the rule returned, when it returned one.
    """

    rule: str
    status: RuleStatus
    detail: str = ""
    value: str | None = None

    def __str__(self) -> str:
        text = f"{self.rule}: {self.status.value}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True, slots=True)
class SenderResolution:
    """The sender a cascade chose, which rule chose it, and why earlier rules did not.

    Attributes:
        sender: The chosen sender.
        rule: The name of the rule that answered.
        trace: One outcome per rule tried, in order; the last is the answering rule.
    """

    sender: Sender
    rule: str
    trace: tuple[RuleOutcome, ...]

    def explain(self) -> str:
        """Say in a few lines who the sender is and how it was found."""
        lines = [f"From: {self.sender} (rule {self.rule!r})"]
        lines.extend(f"  {i}. {outcome}" for i, outcome in enumerate(self.trace, 1))
        return "\n".join(lines)


def rule_name(rule: object) -> str:
    """The name a rule is shown under: its ``name``, else its ``__name__``, else its repr."""
    name = getattr(rule, "name", None) or getattr(rule, "__name__", None)
    return str(name) if name else repr(rule)


def _normalise_domain(domain: str) -> str:
    try:
        return Address(f"postmaster@{domain.strip()}").domain
    except MailbillError as exc:
        raise ConfigurationError(f"allowed domain {domain!r} is not a valid domain: {exc}") from exc


class SenderCascade:
    """An ordered list of sender rules; the first usable answer wins.

    Example (004: case manager, client group, functional address, office address):
        >>> cascade = SenderCascade([
        ...     field_rule("case_manager.email", name="case manager", display_name_from="case_manager.name"),
        ...     field_rule("client_group.email", name="client group"),
        ...     field_rule("office.functional_email", name="functional address"),
        ...     field_rule("office.email", name="office address"),
        ... ])
        >>> doc = Document("welcome", "w/1", context={"office": {"email": "info@office.example"}})
        >>> result = cascade.resolve(doc)
        >>> result.rule, str(result.sender.address)
        ('office address', 'info@office.example')

    Args:
        rules: The rules, in order of preference.
        allowed_domains: When given, only senders on these domains are accepted
            (the ones the accounts may send for under SPF/DKIM/DMARC); a rule
            answering with another domain is skipped and the next one tried.

    Raises:
        ConfigurationError: no rules, a rule that is not callable, or an invalid domain.
    """

    def __init__(
        self, rules: Sequence[SenderRule], /, *, allowed_domains: Iterable[str] | None = None
    ) -> None:
        self._rules = tuple(rules)
        if not self._rules:
            raise ConfigurationError("a SenderCascade needs at least one rule")
        for rule in self._rules:
            if not callable(rule):
                raise ConfigurationError(f"sender rule {rule!r} is not callable")
        if isinstance(allowed_domains, str):
            allowed_domains = (allowed_domains,)
        self._allowed = (
            None if allowed_domains is None else frozenset(_normalise_domain(d) for d in allowed_domains)
        )

    @property
    def rules(self) -> tuple[SenderRule, ...]:
        """The rules, in order."""
        return self._rules

    def __repr__(self) -> str:
        names = ", ".join(rule_name(rule) for rule in self._rules)
        return f"SenderCascade([{names}])"

    def resolve(self, document: Document, /) -> SenderResolution:
        """Run the rules in order for ``document`` and return the first usable sender.

        A rule that raises is recorded and skipped (logged as a warning), so one
        faulty rule does not stop a batch while a later rule can still answer.

        Raises:
            SenderNotResolvedError: no rule answered; ``tried`` holds every
                rule's :class:`RuleOutcome`.
        """
        trace: list[RuleOutcome] = []
        for rule in self._rules:
            name = rule_name(rule)
            outcome, sender = self._try(rule, name, document)
            trace.append(outcome)
            if sender is not None:
                return SenderResolution(sender, name, tuple(trace))
        summary = "; ".join(str(outcome) for outcome in trace)
        raise SenderNotResolvedError(
            f"no sender for document {document.key!r} ({document.kind}): {summary}", tried=trace
        )

    def _try(self, rule: SenderRule, name: str, document: Document) -> tuple[RuleOutcome, Sender | None]:
        try:
            value = rule(document)
        except (AddressError, HeaderInjectionError) as exc:
            # A rule that found a value but could not parse it: the value is the problem.
            bad = getattr(exc, "address", "") or None
            return RuleOutcome(name, RuleStatus.INVALID_ADDRESS, str(exc), value=bad), None
        except Exception as exc:  # a host rule may fail in any way; record it, try the next
            logger.warning("sender rule %r raised for document %r", name, document.key, exc_info=True)
            return RuleOutcome(name, RuleStatus.RAISED, f"{type(exc).__name__}: {exc}"), None
        if value is None or (isinstance(value, str) and not value.strip()):
            detail = getattr(rule, "describe_missing", None)
            return RuleOutcome(name, RuleStatus.NO_VALUE, detail if isinstance(detail, str) else ""), None
        try:
            sender = _as_sender(value)
        except MailbillError as exc:
            return RuleOutcome(name, RuleStatus.INVALID_ADDRESS, str(exc), value=str(value)), None
        text = str(sender.address)
        if self._allowed is not None and sender.address.domain not in self._allowed:
            allowed = ", ".join(sorted(self._allowed))
            detail = f"{sender.address.email}: {sender.address.domain} is not one of {allowed}"
            return RuleOutcome(name, RuleStatus.DOMAIN_NOT_ALLOWED, detail, value=text), None
        return RuleOutcome(name, RuleStatus.ANSWERED, text, value=text), sender


def _as_sender(value: object) -> Sender:
    if isinstance(value, Sender):
        return value
    if isinstance(value, Address):
        return Sender(value)
    if isinstance(value, str):
        return Sender(Address.parse(value.strip()))
    raise ConfigurationError(f"a sender rule returned {type(value).__name__}, not a Sender, Address or str")


class _FieldRule:
    """A rule reading the sender's address from a dotted path of the document."""

    def __init__(
        self,
        path: str,
        name: str,
        display_name_from: str | None,
        reply_to: tuple[Address, ...],
        transport: str | None,
    ) -> None:
        self.path = path
        self.name = name
        self.display_name_from = display_name_from
        self.reply_to = reply_to
        self.transport = transport
        self.describe_missing = f"{path} is empty"

    def __call__(self, document: Document) -> Sender | None:
        value = lookup_path(document, self.path)
        if value is None or value == "":
            return None
        if isinstance(value, Sender):
            return value
        address = value if isinstance(value, Address) else Address.parse(str(value).strip())
        if self.display_name_from is not None and not address.name:
            display = lookup_path(document, self.display_name_from)
            if isinstance(display, str) and display.strip():
                address = Address(address.email, display)
        return Sender(address, self.reply_to, self.transport)

    def __repr__(self) -> str:
        return f"field_rule({self.path!r}, name={self.name!r})"


def field_rule(
    path: str,
    /,
    *,
    name: str | None = None,
    display_name_from: str | None = None,
    reply_to: str | Address | Iterable[str | Address] = (),
    transport: str | None = None,
) -> SenderRule:
    """A rule taking the sender from a dotted path in the document's context or fields.

    Args:
        path: Where the address is, e.g. ``"case_manager.email"``.
        name: The rule's name in traces; the path by default.
        display_name_from: A path to the display name (``"case_manager.name"``),
            used when the address has none, so the mail is sent "in the name of" them.
        reply_to: Reply-To addresses to add to the sender.
        transport: The transport (account) to send through.

    Raises:
        ConfigurationError: ``path`` is empty or a Reply-To address is invalid.
    """
    if not path or not isinstance(path, str):
        raise ConfigurationError("field_rule needs a dotted path such as 'case_manager.email'")
    try:
        replies = parse_many(reply_to)
    except MailbillError as exc:
        raise ConfigurationError(f"field_rule({path!r}): invalid reply_to: {exc}") from exc
    return _FieldRule(path, name or path, display_name_from, replies, transport)


def _configured_sender(value: object, where: str) -> Sender:
    try:
        return _as_sender(value)
    except MailbillError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


class _MappingRule:
    """A rule looking the sender up by tenant and kind."""

    def __init__(self, table: Mapping[object, Sender], name: str) -> None:
        self.table = table
        self.name = name
        self.describe_missing = "no entry for this tenant and kind"

    def __call__(self, document: Document) -> Sender | None:
        for key in ((document.tenant, document.kind), document.tenant, (None, document.kind)):
            if key is not None and key in self.table:
                return self.table[key]
        return None

    def __repr__(self) -> str:
        return f"mapping_rule(<{len(self.table)} entries>, name={self.name!r})"


def mapping_rule(
    table: Mapping[str | tuple[str | None, str | None], Sender | Address | str],
    /,
    *,
    name: str = "mapping",
) -> SenderRule:
    """A rule looking the sender up by the document's tenant and/or kind.

    Keys are a tenant (``"facility-7"``), a ``(tenant, kind)`` pair, or
    ``(None, kind)`` for a kind whatever the tenant. The most specific key wins:
    ``(tenant, kind)``, then ``tenant``, then ``(None, kind)``.

    Example (003: one sender per facility):
        >>> rule = mapping_rule({"les-tilleuls": "Les Tilleuls <factures@tilleuls.example>"})
        >>> str(rule(Document("invoice", "i/1", tenant="les-tilleuls")))
        'Les Tilleuls <factures@tilleuls.example>'

    Raises:
        ConfigurationError: a key has the wrong shape or a value is not a valid sender.
    """
    checked: dict[object, Sender] = {}
    for key, value in table.items():
        ok = isinstance(key, str) or (
            isinstance(key, tuple) and len(key) == 2 and all(k is None or isinstance(k, str) for k in key)
        )
        if not ok or key == (None, None):
            raise ConfigurationError(f"mapping_rule key {key!r} must be a tenant or a (tenant, kind) pair")
        checked[key] = _configured_sender(value, f"mapping_rule entry {key!r}")
    return _MappingRule(checked, name)


class _FixedRule:
    """A rule that always answers the same sender."""

    def __init__(self, sender: Sender, name: str) -> None:
        self.sender = sender
        self.name = name

    def __call__(self, document: Document) -> Sender:
        return self.sender

    def __repr__(self) -> str:
        return f"fixed({str(self.sender)!r})"


def fixed(sender: Sender | Address | str, /, *, name: str = "fixed") -> SenderRule:
    """A rule that always gives ``sender``: the last step of a cascade, or the only one.

    Raises:
        ConfigurationError: ``sender`` is not a valid address.
    """
    return _FixedRule(_configured_sender(sender, "fixed sender"), name)
