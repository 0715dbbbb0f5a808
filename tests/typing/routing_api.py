"""Routing API as a host writes it; checked by mypy --strict, never executed."""

from __future__ import annotations

import mailbill


def office_noreply(document: mailbill.Document) -> str | None:
    return "noreply@office.example" if document.kind == "welcome" else None


def staff(document: mailbill.Document) -> list[mailbill.Party | str]:
    return [mailbill.Party("Anna", emails=("anna@office.example",)), "bo@office.example"]


def route() -> str:
    senders = mailbill.SenderCascade(
        [
            mailbill.field_rule("case_manager.email", name="case manager"),
            mailbill.mapping_rule({("acme", "invoice"): "billing@acme.example"}),
            office_noreply,
            lambda document: None,
            mailbill.fixed(mailbill.Sender.parse("info@office.example", transport="smtp")),
        ],
        allowed_domains=["office.example", "acme.example"],
    )
    blocked: mailbill.SuppressionList = mailbill.MemorySuppressionList()
    blocked.add("old@example.com", mailbill.SuppressionReason.HARD_BOUNCE)
    router = mailbill.Router(
        {"failed_task": staff, "welcome": mailbill.explicit("a@office.example")},
        default=mailbill.parties("resident", "guardian"),
        enabled_kinds={"invoice", "welcome"},
        require_opt_in={"rent_notice"},
        mode={"invoice": "first_valid"},
        cc=mailbill.from_cascade(senders),
        suppression=blocked,
    )
    document = mailbill.Document(
        "invoice", "invoice/1", recipients=(mailbill.Party("Anna", emails="a@x.example"),)
    )
    decision: mailbill.Decision = mailbill.decide(document, router=router, senders=senders)
    reason: mailbill.PaperReason | None = decision.paper_reason
    to: tuple[mailbill.Address, ...] = decision.to
    statuses = [outcome.status for outcome in decision.routing.outcomes]
    assert statuses or reason is None or to == ()
    return decision.explain()
