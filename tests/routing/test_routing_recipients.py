"""Recipient routing: 003's resident and guardian, 004's event types, 000's opt-in, de-duplication."""

from __future__ import annotations

import pytest

from mailbill import (
    AddressStatus,
    ConfigurationError,
    Document,
    DocumentError,
    MemorySuppressionList,
    Party,
    Router,
    SenderCascade,
    SuppressionReason,
    explicit,
    field_rule,
    from_cascade,
    parties,
)


def care_home_invoice(*parties_: Party) -> Document:
    """A care-home invoice (seed 003) for the given parties."""
    return Document("invoice", "facture/2024-09/17", recipients=parties_, tenant="tilleuls")


def test_003_every_invoice_goes_to_every_address_of_resident_and_guardian() -> None:
    """This test ensures that the resident's and the guardian's addresses all get the invoice."""
    doc = care_home_invoice(
        Party("Josiane Mailly", emails=("josiane@example.fr", "j.mailly@example.org"), role="resident"),
        Party("Marc Mailly", emails=("marc@example.fr",), role="guardian"),
    )
    routing = Router().route(doc)
    assert [str(a) for a in routing.to] == [
        "Josiane Mailly <josiane@example.fr>",
        "Josiane Mailly <j.mailly@example.org>",
        "Marc Mailly <marc@example.fr>",
    ]
    assert all(o.status is AddressStatus.USED for o in routing.outcomes)
    assert [o.role for o in routing.outcomes] == ["resident", "resident", "guardian"]


def test_003_one_bad_address_does_not_stop_the_other() -> None:
    """This test ensures that an invalid guardian address is skipped and the resident still gets it."""
    doc = care_home_invoice(
        Party("Josiane Mailly", emails=("josiane@example.fr",), role="resident"),
        Party("Marc Mailly", emails=("marc(at)example.fr",), role="guardian"),
    )
    routing = Router().route(doc)
    assert [a.email for a in routing.to] == ["josiane@example.fr"]
    (skipped,) = routing.skipped()
    assert skipped.status is AddressStatus.INVALID_ADDRESS
    assert skipped.raw == "marc(at)example.fr"
    assert skipped.party == "Marc Mailly"
    assert "not a valid e-mail address" in skipped.detail


def test_shared_address_of_resident_and_guardian_is_used_once() -> None:
    """This test ensures that the same mailbox, spelt differently, gets one copy (the other a duplicate)."""
    doc = care_home_invoice(
        Party("Josiane", emails=("famille.mailly@Example.FR",), role="resident"),
        Party("Marc", emails=("Famille.Mailly@example.fr",), role="guardian"),
    )
    routing = Router().route(doc)
    assert [a.email for a in routing.to] == ["famille.mailly@example.fr"]
    assert [o.status for o in routing.outcomes] == [AddressStatus.USED, AddressStatus.DUPLICATE]


def test_first_valid_mode_uses_one_address_per_party() -> None:
    """This test ensures that first_valid skips invalid and blocked ones and then needs no more."""
    blocked = MemorySuppressionList()
    blocked.add("old@example.fr", SuppressionReason.HARD_BOUNCE)
    doc = care_home_invoice(
        Party("Josiane", emails=("bad@@", "old@example.fr", "new@example.fr", "other@example.fr")),
        Party("Marc", emails=("marc@example.fr", "marc2@example.fr")),
    )
    router = Router(mode={"invoice": "first_valid"}, suppression=blocked)
    assert router.suppression is blocked
    routing = router.route(doc)
    assert [a.email for a in routing.to] == ["new@example.fr", "marc@example.fr"]
    assert [o.status for o in routing.outcomes] == [
        AddressStatus.INVALID_ADDRESS,
        AddressStatus.BLOCKED,
        AddressStatus.USED,
        AddressStatus.NOT_NEEDED,
        AddressStatus.USED,
        AddressStatus.NOT_NEEDED,
    ]
    # Other kinds keep the default mode "all".
    other = Router(mode={"invoice": "first_valid"}).route(
        Document("notice", "n/1", recipients=doc.recipients)
    )
    assert len(other.to) == 5


def test_role_filter_picks_parties() -> None:
    """This test ensures that parties('guardian') routes only to guardians."""
    doc = care_home_invoice(
        Party("Josiane", emails=("josiane@example.fr",), role="resident"),
        Party("Marc", emails=("marc@example.fr",), role="guardian"),
    )
    routing = Router(default=parties("guardian")).route(doc)
    assert [a.email for a in routing.to] == ["marc@example.fr"]
    assert routing.rule == "parties(guardian)"


def test_000_tenant_needs_the_send_notices_by_email_flag() -> None:
    """This test ensures that only tenants with the opt-in flag get rent notices by e-mail."""
    router = Router(require_opt_in={"rent_notice"})
    flagged = Party(
        "Anna Andersson", emails=("anna@example.se",), role="tenant", opt_in={"rent_notice": True}
    )
    unflagged = Party("Bo Berg", emails=("bo@example.se",), role="tenant")
    routing = router.route(Document("rent_notice", "avi/2024-10/1", recipients=(flagged, unflagged)))
    assert [a.email for a in routing.to] == ["anna@example.se"]
    assert routing.outcomes[1].status is AddressStatus.OPTED_OUT
    assert routing.outcomes[1].detail == "no opt-in for 'rent_notice'"
    # Other kinds do not need the flag.
    assert len(router.route(Document("invoice", "i/1", recipients=(unflagged,))).to) == 1
    assert Router(require_opt_in=True).requires_opt_in("anything")


def test_an_explicit_opt_out_wins_even_without_required_opt_in() -> None:
    """This test ensures that a party who said no to a kind by e-mail is never mailed that kind."""
    party = Party("Anna", emails=("anna@example.se", "anna@work.example"), opt_in={"dunning/1": False})
    routing = Router().route(Document("dunning/1", "m/1", recipients=(party,)))
    assert routing.to == ()
    assert [o.status for o in routing.outcomes] == [AddressStatus.OPTED_OUT] * 2
    assert routing.outcomes[0].detail == "opted out of 'dunning/1' by e-mail"


def test_party_without_address_is_reported() -> None:
    """This test ensures that a party with no address leaves one NO_ADDRESS outcome, not nothing."""
    routing = Router().route(Document("invoice", "i/1", recipients=(Party("Anna", role="customer"),)))
    assert routing.to == ()
    (outcome,) = routing.outcomes
    assert (outcome.status, outcome.raw, outcome.party, outcome.role) == (
        AddressStatus.NO_ADDRESS,
        "",
        "Anna",
        "customer",
    )
    assert "[Anna, customer] -> no address" in str(outcome)


def test_004_office_picked_recipients_per_event_type_else_the_cascade() -> None:
    """This test ensures that chosen recipients win for their event type and the cascade routes the rest."""
    cascade = SenderCascade(
        [
            field_rule("case_manager.email", name="case manager"),
            field_rule("client_group.email", name="client group"),
            field_rule("office.functional_email", name="functional address"),
            field_rule("office.email", name="office address"),
        ]
    )
    router = Router(
        {"failed_task": explicit("an@kantoor.example", "Bram <bram@kantoor.example>", name="chosen staff")},
        default=from_cascade(cascade),
    )
    context = {
        "client_group": {"email": "groep@kantoor.example"},
        "office": {"email": "info@kantoor.example"},
    }
    assert repr(router) == "Router(kinds with own rules: [failed_task], default='cascade')"
    failed = router.route(Document("failed_task", "task/9", context=context))
    assert failed.rule == "chosen staff"
    assert [a.email for a in failed.to] == ["an@kantoor.example", "bram@kantoor.example"]
    message = router.route(Document("client_message", "msg/3", context=context))
    assert message.rule == "cascade"
    assert [a.email for a in message.to] == ["groep@kantoor.example"]
    nobody = router.route(Document("vat_documents_ok", "vat/1"))
    assert nobody.to == ()
    assert "(the rule gave no recipients)" in nobody.explain()


def test_cc_copy_to_the_office_and_bcc_are_deduplicated_against_to() -> None:
    """This test ensures that Cc/Bcc rules add copies but never a second copy to a To address."""
    router = Router(
        cc={"invoice": explicit("kontor@example.se")},
        bcc=explicit("arkiv@example.se", "KONTOR@example.se"),
    )
    doc = Document(
        "invoice", "i/1", recipients=(Party("Anna", emails=("anna@example.se", "arkiv@Example.se")),)
    )
    routing = router.route(doc)
    assert [a.email for a in routing.to] == ["anna@example.se", "arkiv@example.se"]
    assert [a.email for a in routing.cc] == ["kontor@example.se"]
    assert routing.bcc == ()
    assert [o.status for o in routing.outcomes if o.field == "bcc"] == [AddressStatus.DUPLICATE] * 2
    # A kind without a Cc entry gets no Cc.
    assert router.route(Document("notice", "n/1", recipients=doc.recipients)).cc == ()


def test_kind_not_enabled_routes_nothing() -> None:
    """This test ensures that a kind outside enabled_kinds is marked and has no recipients."""
    router = Router(enabled_kinds={"dunning/1", "dunning/2"})
    party = Party("Kunde AG", emails=("buchhaltung@kunde.ch",))
    routing = router.route(Document("dunning/3", "mahnung/3/77", recipients=(party,)))
    assert not routing.kind_enabled
    assert routing.to == ()
    assert routing.outcomes == ()
    assert "not enabled" in routing.explain()
    assert router.route(Document("dunning/2", "mahnung/2/77", recipients=(party,))).kind_enabled


def test_host_rule_errors_become_document_errors() -> None:
    """This test ensures that a broken host rule fails this document with a DocumentError naming the rule."""

    def lookup_staff(document: Document) -> list[str]:
        raise RuntimeError("database gone")

    def wrong(document: Document) -> list[object]:
        return [42]

    doc = Document("k", "d/1")
    with pytest.raises(DocumentError, match=r"lookup_staff.*d/1.*database gone"):
        Router(default=lookup_staff).route(doc)
    with pytest.raises(DocumentError, match="returned int"):
        Router(default=wrong).route(doc)  # type: ignore[arg-type]


def test_rules_may_return_single_values_or_none() -> None:
    """This test ensures that a rule returning one address, one party or None is understood."""
    doc = Document("k", "d/1")
    assert [a.email for a in Router(default=lambda d: "a@example.com").route(doc).to] == ["a@example.com"]
    assert len(Router(default=lambda d: Party("P", emails=("p@example.com",))).route(doc).to) == 1
    assert Router(default=lambda d: None).route(doc).to == ()


def test_display_name_with_control_characters_is_dropped_not_fatal() -> None:
    """This test ensures that a party name that cannot be a header still lets the address be used."""
    party = Party("Anna\r\nBcc: x@example.com", emails=("anna@example.se",))
    routing = Router().route(Document("k", "d/1", recipients=(party,)))
    assert [str(a) for a in routing.to] == ["anna@example.se"]


def test_router_configuration_mistakes_fail_at_construction() -> None:
    """This test ensures that wrong router options are ConfigurationErrors."""
    with pytest.raises(ConfigurationError, match="enabled_kinds"):
        Router(enabled_kinds="invoice")
    with pytest.raises(ConfigurationError, match="require_opt_in"):
        Router(require_opt_in="rent_notice")
    with pytest.raises(ConfigurationError, match="routing mode"):
        Router(mode="each")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not callable"):
        Router({"invoice": "anna@example.se"})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="not callable"):
        Router(cc={"invoice": "kontor@example.se"})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="explicit recipient"):
        explicit("kontor(at)example.se")
