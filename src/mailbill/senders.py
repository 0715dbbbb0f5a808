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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailbill._documents import Document
from mailbill._models import Address
from mailbill._sender import Sender, SenderRule, as_sender, rule_name
from mailbill._sender_rules import field_rule, fixed, mapping_rule
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
    "rule_name",
]

logger = logging.getLogger(__name__)


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
            sender = as_sender(value)
        except MailbillError as exc:
            return RuleOutcome(name, RuleStatus.INVALID_ADDRESS, str(exc), value=str(value)), None
        text = str(sender.address)
        if self._allowed is not None and sender.address.domain not in self._allowed:
            allowed = ", ".join(sorted(self._allowed))
            detail = f"{sender.address.email}: {sender.address.domain} is not one of {allowed}"
            return RuleOutcome(name, RuleStatus.DOMAIN_NOT_ALLOWED, detail, value=text), None
        return RuleOutcome(name, RuleStatus.ANSWERED, text, value=text), sender
