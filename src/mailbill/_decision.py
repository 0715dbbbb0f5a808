"""Mail or paper: the decision for one document, and its explanation.

Every document ends in exactly one of two outcomes. Either it goes by e-mail,
with its recipients and its sender, or it goes on paper with a reason from a
closed set that a host application can show and print by. Nothing is dropped.

A sender that cannot be resolved is not a paper reason: it means the mail
setup is wrong (no rule of the cascade answers), which a person must fix, and
printing every document of the run instead would hide that. :func:`decide`
raises :class:`~mailbill.SenderNotResolvedError` (a
:class:`~mailbill.DocumentError`: this document, not the batch) with the trace.
The sender is only resolved for documents that go by e-mail.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from mailbill._documents import Document
from mailbill._models import Address
from mailbill.recipients import AddressStatus, Router, Routing
from mailbill.senders import SenderCascade, SenderResolution

__all__ = ["Decision", "PaperReason", "decide"]

logger = logging.getLogger(__name__)


class PaperReason(enum.Enum):
    """Why a document goes on paper instead of by e-mail (a closed set)."""

    NO_ADDRESS = "no_address"
    """No recipient has an e-mail address."""
    INVALID_ADDRESS = "invalid_address"
    """The addresses there are do not parse or validate."""
    OPTED_OUT = "opted_out"
    """The recipients did not opt in to this kind by e-mail (or opted out)."""
    BLOCKED = "blocked"
    """The addresses are on the suppression list (bounced, complained, blocked)."""
    KIND_NOT_ENABLED = "kind_not_enabled"
    """This kind of document is not enabled for e-mail."""


# When the To candidates failed for different reasons, the one that most
# concerns the recipients' own choice and state is named first.
_PRECEDENCE = (
    (AddressStatus.OPTED_OUT, PaperReason.OPTED_OUT),
    (AddressStatus.BLOCKED, PaperReason.BLOCKED),
    (AddressStatus.INVALID_ADDRESS, PaperReason.INVALID_ADDRESS),
    (AddressStatus.NO_ADDRESS, PaperReason.NO_ADDRESS),
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one document: mail (recipients, sender) or paper (a reason).

    Attributes:
        document: The document decided on.
        routing: The recipient routing with its per-address reasoning.
        sender: The sender resolution; ``None`` for paper.
        paper_reason: Why it goes on paper; ``None`` for mail.
        paper_reasons: Every reason that applied to the To candidates, main one first.
    """

    document: Document
    routing: Routing
    sender: SenderResolution | None = None
    paper_reason: PaperReason | None = None
    paper_reasons: tuple[PaperReason, ...] = ()

    @property
    def is_mail(self) -> bool:
        """Whether the document goes by e-mail."""
        return self.paper_reason is None

    @property
    def is_paper(self) -> bool:
        """Whether the document goes on paper."""
        return self.paper_reason is not None

    @property
    def to(self) -> tuple[Address, ...]:
        """The To addresses (empty for paper)."""
        return self.routing.to if self.is_mail else ()

    @property
    def cc(self) -> tuple[Address, ...]:
        """The Cc addresses (empty for paper)."""
        return self.routing.cc if self.is_mail else ()

    @property
    def bcc(self) -> tuple[Address, ...]:
        """The Bcc addresses (empty for paper)."""
        return self.routing.bcc if self.is_mail else ()

    def explain(self) -> str:
        """A readable account of the whole decision, for support staff.

        Example output::

            Document invoice/2024/1001 (invoice): by e-mail
            From: Office <info@office.example> (rule 'office address')
              1. case manager: no value (case_manager.email is empty)
              2. client group: no value (client_group.email is empty)
              3. office address: answered (Office <info@office.example>)
            Recipients (rule 'parties'):
              to: Anna Janssen <anna@example.nl> [Anna Janssen, customer] -> used
        """
        doc = self.document
        if self.paper_reason is None:
            head = f"Document {doc.key} ({doc.kind}): by e-mail"
        else:
            reasons = ", ".join(r.value for r in self.paper_reasons)
            head = f"Document {doc.key} ({doc.kind}): on paper, reason {self.paper_reason.value}"
            if len(self.paper_reasons) > 1:
                head += f" (all reasons: {reasons})"
        lines = [head]
        if self.sender is not None:
            lines.append(self.sender.explain())
        lines.append(self.routing.explain())
        if self.paper_reason is not None and (self.routing.cc or self.routing.bcc):
            lines.append("Nothing is e-mailed on paper, copies (Cc/Bcc) included.")
        return "\n".join(lines)


def _paper_reasons(routing: Routing) -> tuple[PaperReason, ...]:
    if not routing.kind_enabled:
        return (PaperReason.KIND_NOT_ENABLED,)
    if routing.to:
        return ()
    statuses = {o.status for o in routing.outcomes if o.field == "to"}
    reasons = tuple(reason for status, reason in _PRECEDENCE if status in statuses)
    # A rule that gave no one at all, or only duplicates of nobody, means no address.
    return reasons or (PaperReason.NO_ADDRESS,)


def decide(document: Document, /, *, router: Router, senders: SenderCascade) -> Decision:
    """Decide whether ``document`` goes by e-mail, to whom and from whom, or on paper and why.

    A document goes by e-mail when at least one To address remains after
    routing; Cc and Bcc alone (a copy to the office) do not count, since the
    recipient would not get it. Paper decisions carry no recipients or sender.

    Example:
        >>> from mailbill import Party, Router, SenderCascade, fixed
        >>> doc = Document("invoice", "i/1", recipients=(Party("Anna", emails=("not an address",)),))
        >>> d = decide(doc, router=Router(), senders=SenderCascade([fixed("billing@acme.example")]))
        >>> d.is_paper, d.paper_reason
        (True, <PaperReason.INVALID_ADDRESS: 'invalid_address'>)

    Raises:
        SenderNotResolvedError: the document would go by e-mail but no sender rule
            answered (a setup error; ``tried`` holds the trace).
        DocumentError: a host recipient rule failed.
    """
    routing = router.route(document)
    reasons = _paper_reasons(routing)
    if reasons:
        # Business keys only: addresses are personal data and stay out of logs.
        logger.debug("document %r (%s): paper, %s", document.key, document.kind, reasons[0].value)
        return Decision(document, routing, None, reasons[0], reasons)
    resolution = senders.resolve(document)
    logger.debug("document %r (%s): mail, sender rule %r", document.key, document.kind, resolution.rule)
    return Decision(document, routing, resolution)
