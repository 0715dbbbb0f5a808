"""Who receives a document: routing rules per kind, opt-in, suppression, de-duplication.

A :class:`Router` turns a :class:`~mailbill.Document` into a :class:`Routing`:
the To, Cc and Bcc addresses, and for every address it looked at whether it was
used or why it was skipped. It never raises for bad host data: an address that
does not parse, a party that did not opt in, an address on the suppression list
is skipped with a reason, and the decision (:func:`~mailbill.decide`) turns "no
one left" into paper.

Per document kind the router uses an explicit rule (the office picked who gets
"failed task" mails) or else its default rule (every party of the document).
A recipient rule is any callable taking the document and returning parties,
addresses or address text.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from mailbill._documents import Document, Party
from mailbill._models import Address
from mailbill._recipient_rules import RecipientRule, explicit, from_cascade, parties
from mailbill.errors import ConfigurationError, DocumentError, MailbillError
from mailbill.senders import rule_name
from mailbill.suppression import SuppressionList, suppression_key

__all__ = [
    "AddressOutcome",
    "AddressStatus",
    "Mode",
    "RecipientRule",
    "Router",
    "Routing",
    "explicit",
    "from_cascade",
    "parties",
]

#: How to use a party with several addresses: every valid one, or only the first valid one.
Mode = Literal["all", "first_valid"]


_MODES = ("all", "first_valid")


class AddressStatus(enum.Enum):
    """What the router did with one address (a closed set)."""

    USED = "used"
    NO_ADDRESS = "no address"
    INVALID_ADDRESS = "invalid address"
    OPTED_OUT = "not opted in to e-mail"
    BLOCKED = "blocked"
    DUPLICATE = "duplicate"
    NOT_NEEDED = "not needed (an earlier address of the party is used)"


@dataclass(frozen=True, slots=True)
class AddressOutcome:
    """The router's verdict on one address (or on a party that has none).

    Attributes:
        field: ``"to"``, ``"cc"`` or ``"bcc"``.
        raw: The address text as the host gave it (``""`` for a party without one).
        status: Used, or why not.
        party: The party's name (``""`` for an address a rule gave directly).
        role: The party's role (``""`` for an address a rule gave directly).
        address: The parsed address, when it parsed.
        detail: A readable detail (the parse error, the block reason).
    """

    field: str
    raw: str
    status: AddressStatus
    party: str = ""
    role: str = ""
    address: Address | None = None
    detail: str = ""

    def __str__(self) -> str:
        shown = str(self.address) if self.address is not None else (repr(self.raw) if self.raw else "-")
        who = f" [{self.party}, {self.role}]" if self.party or self.role else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.field}: {shown}{who} -> {self.status.value}{detail}"


@dataclass(frozen=True, slots=True)
class Routing:
    """Who a document goes to, and the reasoning for every address looked at.

    Attributes:
        kind: The document kind routed.
        rule: The name of the rule that chose the To recipients.
        kind_enabled: ``False`` when the kind is not enabled for e-mail (nothing was routed).
        to: The To addresses (de-duplicated, in order).
        cc: The Cc addresses.
        bcc: The Bcc addresses.
        outcomes: One entry per address (or address-less party) looked at, in order.
    """

    kind: str
    rule: str
    kind_enabled: bool
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    outcomes: tuple[AddressOutcome, ...] = ()

    def skipped(self) -> tuple[AddressOutcome, ...]:
        """The outcomes of addresses not used (excluding duplicates of used ones)."""
        return tuple(
            o for o in self.outcomes if o.status not in (AddressStatus.USED, AddressStatus.DUPLICATE)
        )

    def explain(self) -> str:
        """Say in a few lines who gets the document and why others do not."""
        if not self.kind_enabled:
            return f"Recipients: none, kind {self.kind!r} is not enabled for e-mail"
        lines = [f"Recipients (rule {self.rule!r}):"]
        lines.extend(f"  {outcome}" for outcome in self.outcomes)
        if not self.outcomes:
            lines.append("  (the rule gave no recipients)")
        return "\n".join(lines)


def _for_kind(value: object, kind: str) -> object:
    return value.get(kind) if isinstance(value, Mapping) else value


class _Walk:
    """One routing pass over a document: de-duplicates across To, Cc and Bcc."""

    def __init__(
        self, document: Document, mode: object, opt_in_required: bool, suppression: SuppressionList | None
    ) -> None:
        self.document = document
        self.mode = mode
        self.opt_in_required = opt_in_required
        self.suppression = suppression
        self.seen: set[str] = set()
        self.outcomes: list[AddressOutcome] = []

    def run(self, field: str, rule: RecipientRule | None) -> tuple[Address, ...]:
        if rule is None:
            return ()
        try:
            result = rule(self.document)
        except Exception as exc:  # a host rule: make it this document's error, not the batch's
            raise DocumentError(
                f"recipient rule {rule_name(rule)!r} failed for document {self.document.key!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if result is None:
            items: tuple[object, ...] = ()
        elif isinstance(result, Party | Address | str):
            items = (result,)
        else:
            items = tuple(result)
        used: list[Address] = []
        mode = self.mode
        for item in items:
            if isinstance(item, Party):
                used.extend(self._party(field, item, mode))
            elif isinstance(item, Address | str):
                used.extend(self._addresses(field, (str(item),), None, "all"))
            else:
                raise DocumentError(
                    f"recipient rule {rule_name(rule)!r} returned {type(item).__name__} for document "
                    f"{self.document.key!r}; expected Party, Address or str"
                )
        return tuple(used)

    def _party(self, field: str, party: Party, mode: object) -> list[Address]:
        kind = self.document.kind
        flag = party.opted_in(kind)
        if flag is False or (flag is None and self.opt_in_required):
            detail = f"opted out of {kind!r} by e-mail" if flag is False else f"no opt-in for {kind!r}"
            for raw in party.emails or ("",):
                self._note(field, raw, AddressStatus.OPTED_OUT, party, detail=detail)
            return []
        if not party.emails:
            self._note(field, "", AddressStatus.NO_ADDRESS, party, detail="the party has no e-mail address")
            return []
        return self._addresses(field, party.emails, party, mode)

    def _addresses(self, field: str, raws: Iterable[str], party: Party | None, mode: object) -> list[Address]:
        used: list[Address] = []
        satisfied = False
        for raw in raws:
            if satisfied:
                self._note(field, raw, AddressStatus.NOT_NEEDED, party)
                continue
            try:
                address = Address.parse(raw)
            except MailbillError as exc:
                self._note(field, raw, AddressStatus.INVALID_ADDRESS, party, detail=str(exc))
                continue
            if party is not None and party.name and not address.name:
                # A name with control characters: send without a display name.
                with contextlib.suppress(MailbillError):
                    address = Address(address.email, party.name)
            suppression = self.suppression
            entry = suppression.is_blocked(address) if suppression is not None else None
            if entry is not None:
                detail = f"{entry.reason.value}: {entry.note}" if entry.note else entry.reason.value
                self._note(field, raw, AddressStatus.BLOCKED, party, address=address, detail=detail)
                continue
            satisfied = mode == "first_valid"
            key = suppression_key(address)
            if key in self.seen:
                self._note(field, raw, AddressStatus.DUPLICATE, party, address=address)
                continue
            self.seen.add(key)
            self._note(field, raw, AddressStatus.USED, party, address=address)
            used.append(address)
        return used

    def _note(
        self,
        field: str,
        raw: str,
        status: AddressStatus,
        party: Party | None,
        *,
        address: Address | None = None,
        detail: str = "",
    ) -> None:
        name, role = (party.name, party.role) if party is not None else ("", "")
        self.outcomes.append(AddressOutcome(field, raw, status, name, role, address, detail))


class Router:
    """Decides who receives each document.

    Example (003: every invoice to the resident and the guardian):
        >>> router = Router()
        >>> doc = Document("invoice", "i/1", recipients=(
        ...     Party("Josiane Mailly", emails=("josiane@example.fr",), role="resident"),
        ...     Party("Marc Mailly", emails=("marc@example.fr",), role="guardian"),
        ... ))
        >>> [a.email for a in router.route(doc).to]
        ['josiane@example.fr', 'marc@example.fr']

    Args:
        rules_by_kind: A recipient rule per document kind (or event type).
        default: The rule for kinds not in ``rules_by_kind``; all the document's parties.
        enabled_kinds: The kinds that may go by e-mail; ``None`` means all. Others
            go on paper (002: "send by e-mail" per dunning level).
        require_opt_in: ``True``, or the kinds for which a party must have opted in
            (000: the tenant's "send notices by e-mail"). A party that opted out
            (``opt_in[kind] is False``) is skipped whatever this says.
        mode: ``"all"`` (every valid address of a party) or ``"first_valid"``; one
            for every kind or a mapping per kind (missing kinds use ``"all"``).
        cc: A rule for Cc recipients (a copy to the office), or a mapping per kind.
        bcc: A rule for Bcc recipients, or a mapping per kind.
        suppression: Blocked addresses to skip.

    Raises:
        ConfigurationError: a rule is not callable, a mode is unknown, or
            ``enabled_kinds``/``require_opt_in`` is a bare string.
    """

    def __init__(
        self,
        rules_by_kind: Mapping[str, RecipientRule] | None = None,
        /,
        *,
        default: RecipientRule | None = None,
        enabled_kinds: Collection[str] | None = None,
        require_opt_in: bool | Collection[str] = False,
        mode: Mode | Mapping[str, Mode] = "all",
        cc: RecipientRule | Mapping[str, RecipientRule] | None = None,
        bcc: RecipientRule | Mapping[str, RecipientRule] | None = None,
        suppression: SuppressionList | None = None,
    ) -> None:
        self._rules_by_kind: Mapping[str, RecipientRule] = dict(rules_by_kind or {})
        self._default: RecipientRule = default if default is not None else parties()
        for what, value in (("enabled_kinds", enabled_kinds), ("require_opt_in", require_opt_in)):
            if isinstance(value, str):
                raise ConfigurationError(f"{what} must be a collection of kinds, not the string {value!r}")
        self._enabled_kinds = None if enabled_kinds is None else frozenset(enabled_kinds)
        self._require_opt_in: bool | frozenset[str] = (
            require_opt_in if isinstance(require_opt_in, bool) else frozenset(require_opt_in)
        )
        modes = mode.values() if isinstance(mode, Mapping) else (mode,)
        for value in modes:
            if value not in _MODES:
                raise ConfigurationError(f"unknown routing mode {value!r}; use 'all' or 'first_valid'")
        self._mode = mode
        self._cc = cc
        self._bcc = bcc
        self._suppression = suppression
        rules: list[object] = [*self._rules_by_kind.values(), self._default]
        for extra in (cc, bcc):
            if isinstance(extra, Mapping):
                rules.extend(extra.values())
            elif extra is not None:
                rules.append(extra)
        for rule in rules:
            if not callable(rule):
                raise ConfigurationError(f"recipient rule {rule!r} is not callable")

    def requires_opt_in(self, kind: str, /) -> bool:
        """Whether parties must have opted in to get ``kind`` by e-mail."""
        if isinstance(self._require_opt_in, bool):
            return self._require_opt_in
        return kind in self._require_opt_in

    @property
    def suppression(self) -> SuppressionList | None:
        """The suppression list addresses are checked against, if any."""
        return self._suppression

    def __repr__(self) -> str:
        kinds = ", ".join(sorted(self._rules_by_kind))
        return f"Router(kinds with own rules: [{kinds}], default={rule_name(self._default)!r})"

    def kind_enabled(self, kind: str, /) -> bool:
        """Whether documents of ``kind`` may go by e-mail at all."""
        return self._enabled_kinds is None or kind in self._enabled_kinds

    def route(self, document: Document, /) -> Routing:
        """Route one document: its To, Cc and Bcc addresses with the reasoning.

        Bad addresses in host data never raise; they are skipped with a reason.

        Raises:
            DocumentError: a recipient rule raised or returned something that is
                not a party or an address (a bug in the host's rule).
        """
        kind = document.kind
        rule = self._rules_by_kind.get(kind, self._default)
        name = rule_name(rule)
        if not self.kind_enabled(kind):
            return Routing(kind, name, kind_enabled=False)
        mode = _for_kind(self._mode, kind) or "all"
        walk = _Walk(document, mode, self.requires_opt_in(kind), self._suppression)
        to = walk.run("to", rule)
        cc = walk.run("cc", _for_kind(self._cc, kind))  # type: ignore[arg-type]
        bcc = walk.run("bcc", _for_kind(self._bcc, kind))  # type: ignore[arg-type]
        return Routing(kind, name, True, to, cc, bcc, tuple(walk.outcomes))
