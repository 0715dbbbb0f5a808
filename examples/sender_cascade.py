"""Who sends and who receives: a sender cascade, a router and the mail-or-paper decision.

An accounting office mails its clients. The sender is the dossier's case
manager, else the client group's address, else the office's functional
(no-reply) address, else its communication address. "Failed task" mails go to
the staff the office picked; everything else follows the documents' parties.
Blocked addresses are skipped, and a document left without recipients goes on
paper with a reason. Run it: ``python examples/sender_cascade.py``.
"""

from __future__ import annotations

from mailbill import (
    Document,
    MemorySuppressionList,
    PaperReason,
    Party,
    Router,
    SenderCascade,
    SuppressionReason,
    decide,
    explicit,
    field_rule,
)

# The sender cascade: the first rule with a usable address wins.
senders = SenderCascade(
    [
        field_rule("case_manager.email", name="case manager", display_name_from="case_manager.name"),
        field_rule("client_group.email", name="client group", display_name_from="client_group.name"),
        field_rule("office.functional_email", name="functional address", display_name_from="office.name"),
        field_rule("office.email", name="office address", display_name_from="office.name"),
    ],
    allowed_domains=["kantoor-peeters.example"],
)

# Addresses that bounced or were blocked by hand.
blocked = MemorySuppressionList()
blocked.add("oud@janssen.example", SuppressionReason.HARD_BOUNCE, note="550 5.1.1 mailbox unknown")

router = Router(
    {"failed_task": explicit("an@kantoor-peeters.example", name="chosen staff")},
    cc={"invoice": explicit("archief@kantoor-peeters.example")},
    suppression=blocked,
)

office = {"name": "Kantoor Peeters", "email": "info@kantoor-peeters.example"}

documents = [
    # Mrs Janssen's dossier has no case manager and her client group has no address.
    Document(
        "invoice",
        "invoice/2024/1001",
        recipients=(
            Party("Mevr. Janssen", emails="janssen@janssen.example; oud@janssen.example", role="customer"),
        ),
        context={"case_manager": None, "client_group": {"name": "Horeca", "email": ""}, "office": office},
    ),
    # Mr De Vries has a case manager, but only a blocked address.
    Document(
        "invoice",
        "invoice/2024/1002",
        recipients=(Party("Dhr. De Vries", emails=("OUD@Janssen.example",), role="customer"),),
        context={
            "case_manager": {"name": "Eva Maes", "email": "eva@kantoor-peeters.example"},
            "office": office,
        },
    ),
    # An internal event: goes to the staff the office chose for it.
    Document("failed_task", "task/77", context={"office": office}),
]

for document in documents:
    decision = decide(document, router=router, senders=senders)
    print(decision.explain())
    print()

first, second, third = (decide(d, router=router, senders=senders) for d in documents)
assert first.is_mail
assert first.sender is not None
assert first.sender.rule == "office address"
assert [a.email for a in first.to] == ["janssen@janssen.example"]
assert [a.email for a in first.cc] == ["archief@kantoor-peeters.example"]
assert second.paper_reason is PaperReason.BLOCKED
assert [a.email for a in third.to] == ["an@kantoor-peeters.example"]
