"""The mail-or-paper decision and its explanation: 002's dunning run, 004's support question."""

from __future__ import annotations

import logging

import pytest

from mailbill import (
    Decision,
    Document,
    MemorySuppressionList,
    OutgoingMessage,
    PaperReason,
    Party,
    Router,
    Sender,
    SenderCascade,
    SenderNotResolvedError,
    SuppressionReason,
    decide,
    explicit,
    field_rule,
    fixed,
)
from mailbill.testing import MemoryTransport

SENDERS = SenderCascade([fixed(Sender.parse("Inkasso <mahnung@firma.ch>", transport="provider"))])


def dunning(level: int, *parties: Party) -> Document:
    """A dunning letter of ``level`` (seed 002)."""
    return Document(
        f"dunning/{level}", f"mahnlauf/7/{level}/{len(parties)}", recipients=parties, language="de"
    )


def dunning_router(blocked: MemorySuppressionList) -> Router:
    """Levels 1 and 2 carry the 'send by e-mail' flag; level 3 goes by post."""
    return Router(enabled_kinds={"dunning/1", "dunning/2"}, suppression=blocked)


def test_002_blocked_address_means_paper(caplog: pytest.LogCaptureFixture) -> None:
    """This test ensures that a customer whose only address is blocked gets the letter on paper."""
    blocked = MemorySuppressionList()
    blocked.add("buchhaltung@kunde.ch", SuppressionReason.MANUAL, note="Kunde wünscht Post")
    doc = dunning(1, Party("Kunde AG", emails=("Buchhaltung@kunde.ch",)))
    with caplog.at_level(logging.DEBUG, logger="mailbill._decision"):
        decision = decide(doc, router=dunning_router(blocked), senders=SENDERS)
    assert "'mahnlauf/7/1/1' (dunning/1): paper, blocked" in caplog.text
    assert "kunde.ch" not in caplog.text.lower()
    assert decision.is_paper
    assert not decision.is_mail
    assert decision.paper_reason is PaperReason.BLOCKED
    assert decision.sender is None
    assert decision.to == decision.cc == decision.bcc == ()
    assert "blocked: manual: Kunde wünscht Post" in decision.explain()


def test_002_missing_address_means_paper() -> None:
    """This test ensures that a customer without an address is 'paper', not dropped."""
    decision = decide(
        dunning(2, Party("Kunde AG")), router=dunning_router(MemorySuppressionList()), senders=SENDERS
    )
    assert decision.paper_reason is PaperReason.NO_ADDRESS
    assert decision.paper_reasons == (PaperReason.NO_ADDRESS,)


def test_002_level_without_email_flag_means_paper() -> None:
    """This test ensures that a dunning level not enabled for e-mail goes on paper despite a good address."""
    doc = dunning(3, Party("Kunde AG", emails=("buchhaltung@kunde.ch",)))
    decision = decide(doc, router=dunning_router(MemorySuppressionList()), senders=SENDERS)
    assert decision.paper_reason is PaperReason.KIND_NOT_ENABLED
    assert "on paper, reason kind_not_enabled" in decision.explain()


def test_002_good_address_is_released_for_sending_and_composes() -> None:
    """This test ensures that a mail decision carries what is needed to build and send the message."""
    doc = dunning(1, Party("Kunde AG", emails=("buchhaltung@kunde.ch",)))
    decision = decide(doc, router=dunning_router(MemorySuppressionList()), senders=SENDERS)
    assert decision.is_mail
    assert decision.paper_reason is None
    assert decision.sender is not None
    sender = decision.sender.sender
    assert sender.transport == "provider"
    message = OutgoingMessage(
        sender=sender.address,
        to=decision.to,
        cc=decision.cc,
        reply_to=sender.reply_to,
        subject="1. Mahnung",
        text="Guten Tag",
        business_key=doc.key,
    )
    transport = MemoryTransport()
    transport.send(message)
    assert [m.recipients for m in transport.outbox] == [("buchhaltung@kunde.ch",)]


def test_mixed_reasons_name_the_main_one_and_keep_all() -> None:
    """This test ensures the precedence opted out > blocked > invalid > no address, with every reason kept."""
    blocked = MemorySuppressionList()
    blocked.add("bo@example.se", SuppressionReason.HARD_BOUNCE)
    doc = Document(
        "rent_notice",
        "avi/1",
        recipients=(
            Party("Nils", emails=("nils(at)example.se",)),
            Party("Bo", emails=("bo@example.se",)),
            Party("Cecilia"),
        ),
    )
    decision = decide(doc, router=Router(suppression=blocked), senders=SENDERS)
    assert decision.paper_reasons == (
        PaperReason.BLOCKED,
        PaperReason.INVALID_ADDRESS,
        PaperReason.NO_ADDRESS,
    )
    opted = Document(
        "rent_notice", "avi/2", recipients=(*doc.recipients, Party("Dag", emails=("dag@example.se",)))
    )
    decision = decide(opted, router=Router(suppression=blocked, require_opt_in=True), senders=SENDERS)
    assert decision.paper_reason is PaperReason.OPTED_OUT
    assert decision.paper_reasons == (PaperReason.OPTED_OUT,)
    assert "(all reasons" not in decision.explain()


def test_a_copy_to_the_office_alone_is_not_mail() -> None:
    """This test ensures that a document whose recipients all failed is paper even when a Cc remains."""
    router = Router(cc=explicit("kontor@example.se"))
    doc = Document("invoice", "i/1", recipients=(Party("Anna", emails=("bad@@",)),))
    decision = decide(doc, router=router, senders=SENDERS)
    assert decision.paper_reason is PaperReason.INVALID_ADDRESS
    assert decision.cc == ()
    assert decision.routing.cc[0].email == "kontor@example.se"
    assert decision.explain().endswith("Nothing is e-mailed on paper, copies (Cc/Bcc) included.")


def test_unresolved_sender_raises_for_mail_but_not_for_paper() -> None:
    """This test ensures that a broken sender setup is an error, never a silent switch to paper."""
    broken = SenderCascade([field_rule("office.email", name="office address")])
    mail = Document("invoice", "i/1", recipients=(Party("Anna", emails=("anna@example.se",)),))
    with pytest.raises(SenderNotResolvedError) as info:
        decide(mail, router=Router(), senders=broken)
    assert len(info.value.tried) == 1
    paper = Document("invoice", "i/2", recipients=(Party("Anna"),))
    assert decide(paper, router=Router(), senders=broken).paper_reason is PaperReason.NO_ADDRESS


def test_004_explain_answers_why_mrs_janssen_got_it_from_the_office_address() -> None:
    """This test ensures that explain() shows each cascade step and each recipient with its verdict."""
    cascade = SenderCascade(
        [
            field_rule("case_manager.email", name="case manager", display_name_from="case_manager.name"),
            field_rule("client_group.email", name="client group"),
            field_rule("office.functional_email", name="functional address"),
            field_rule("office.email", name="office address", display_name_from="office.name"),
        ]
    )
    doc = Document(
        "welcome",
        "welcome/janssen",
        recipients=(Party("Mevr. Janssen", emails=("janssen@example.nl", "janssen@oud"), role="customer"),),
        context={
            "case_manager": {"name": "Eva", "email": ""},
            "client_group": {"name": "Horeca"},
            "office": {"name": "Kantoor Peeters", "email": "info@kantoor.example"},
        },
    )
    decision = decide(doc, router=Router(), senders=cascade)
    assert isinstance(decision, Decision)
    assert decision.explain() == "\n".join(
        [
            "Document welcome/janssen (welcome): by e-mail",
            "From: Kantoor Peeters <info@kantoor.example> (rule 'office address')",
            "  1. case manager: no value (case_manager.email is empty)",
            "  2. client group: no value (client_group.email is empty)",
            "  3. functional address: no value (office.functional_email is empty)",
            "  4. office address: answered (Kantoor Peeters <info@kantoor.example>)",
            "Recipients (rule 'parties'):",
            '  to: "Mevr. Janssen" <janssen@example.nl> [Mevr. Janssen, customer] -> used',
            "  to: 'janssen@oud' [Mevr. Janssen, customer] -> invalid address: "
            + decision.routing.outcomes[1].detail,
        ]
    )
    assert "janssen@oud" in decision.routing.outcomes[1].detail
