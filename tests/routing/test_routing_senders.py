"""The sender cascade: 004's four steps, 001's accounts, 003's facilities."""

from __future__ import annotations

import itertools
import logging

import pytest

from mailbill import (
    Address,
    AddressError,
    ConfigurationError,
    Document,
    RuleStatus,
    Sender,
    SenderCascade,
    SenderNotResolvedError,
    field_rule,
    fixed,
    mapping_rule,
)

STEPS = ("case manager", "client group", "functional address", "office address")
ADDRESSES = {
    "case manager": "eva@kantoor.example",
    "client group": "groep-horeca@kantoor.example",
    "functional address": "noreply@kantoor.example",
    "office address": "info@kantoor.example",
}


def cascade_004(**options: object) -> SenderCascade:
    """The accounting portal's cascade (seed 004)."""
    return SenderCascade(
        [
            field_rule("case_manager.email", name="case manager", display_name_from="case_manager.name"),
            field_rule("client_group.email", name="client group"),
            field_rule("office.functional_email", name="functional address"),
            field_rule("office.email", name="office address"),
        ],
        **options,  # type: ignore[arg-type]
    )


def document_004(present: set[str]) -> Document:
    """A welcome mail whose dossier has only the cascade steps in ``present`` filled in."""
    context: dict[str, dict[str, object]] = {
        "case_manager": {},
        "client_group": {"name": "Horeca", "email": ""},
        "office": {"name": "Kantoor Peeters"},
    }
    if "case manager" in present:
        context["case_manager"] = {"name": "Eva Peeters", "email": ADDRESSES["case manager"]}
    if "client group" in present:
        context["client_group"]["email"] = ADDRESSES["client group"]
    if "functional address" in present:
        context["office"]["functional_email"] = ADDRESSES["functional address"]
    if "office address" in present:
        context["office"]["email"] = ADDRESSES["office address"]
    return Document("welcome", "welcome/42", context=context)


SUBSETS = [set(c) for n in range(1, 5) for c in itertools.combinations(STEPS, n)]


@pytest.mark.parametrize("present", SUBSETS, ids=lambda s: "+".join(sorted(s)))
def test_004_cascade_answers_with_the_first_step_present(present: set[str]) -> None:
    """This test ensures that with any steps missing, the first present step answers, traced."""
    result = cascade_004().resolve(document_004(present))
    winner = next(step for step in STEPS if step in present)
    assert result.rule == winner
    assert result.sender.address.email == ADDRESSES[winner]
    position = STEPS.index(winner)
    assert [o.rule for o in result.trace] == list(STEPS[: position + 1])
    assert [o.status for o in result.trace[:-1]] == [RuleStatus.NO_VALUE] * position
    assert result.trace[-1].status is RuleStatus.ANSWERED


def test_004_mail_is_sent_in_the_name_of_the_case_manager() -> None:
    """This test ensures that the case manager's name becomes the display name of the From address."""
    result = cascade_004().resolve(document_004(set(STEPS)))
    assert str(result.sender.address) == "Eva Peeters <eva@kantoor.example>"


def test_004_nothing_set_up_raises_with_the_whole_trace() -> None:
    """This test ensures that an office without any sender address gets an error listing every step."""
    with pytest.raises(SenderNotResolvedError) as info:
        cascade_004().resolve(document_004(set()))
    assert [o.rule for o in info.value.tried] == list(STEPS)  # type: ignore[attr-defined]
    assert all(o.status is RuleStatus.NO_VALUE for o in info.value.tried)  # type: ignore[attr-defined]
    assert "welcome/42" in str(info.value)
    assert "client_group.email is empty" in str(info.value)


def test_invalid_address_is_skipped_with_reason() -> None:
    """This test ensures that a mistyped case manager address falls through to the next step."""
    doc = document_004({"client group"})
    doc = Document(doc.kind, doc.key, context={**doc.context, "case_manager": {"email": "eva@@kantoor"}})
    result = cascade_004().resolve(doc)
    assert result.rule == "client group"
    first = result.trace[0]
    assert first.status is RuleStatus.INVALID_ADDRESS
    assert first.value == "eva@@kantoor"
    assert "not a valid e-mail address" in first.detail


def test_header_injection_in_host_data_is_an_invalid_address() -> None:
    """This test ensures that a line break smuggled into an address field is skipped, not sent."""
    doc = Document(
        "welcome", "w/1", context={"a": "x@example.com\r\nBcc: all@example.com", "b": "ok@example.com"}
    )
    result = SenderCascade([field_rule("a"), field_rule("b")]).resolve(doc)
    assert result.rule == "b"
    assert result.trace[0].status is RuleStatus.INVALID_ADDRESS


def test_domain_not_allowed_is_skipped() -> None:
    """This test ensures that a sender outside the allowed domains is refused and the next step used."""
    doc = Document(
        "welcome",
        "w/1",
        context={
            "case_manager": {"email": "eva.private@gmail.com"},
            "office": {"email": "info@Kantoor.example"},
        },
    )
    result = cascade_004(allowed_domains=["KANTOOR.example"]).resolve(doc)
    assert result.rule == "office address"
    assert result.trace[0].status is RuleStatus.DOMAIN_NOT_ALLOWED
    assert "gmail.com" in result.trace[0].detail


def test_allowed_domains_accepts_one_string_and_refuses_garbage() -> None:
    """This test ensures that allowed_domains='x' means one domain and an invalid domain fails at setup."""
    cascade = SenderCascade([fixed("a@kantoor.example")], allowed_domains="kantoor.example")
    assert cascade.resolve(Document("k", "d/1")).rule == "fixed"
    with pytest.raises(ConfigurationError, match="not a valid domain"):
        SenderCascade([fixed("a@kantoor.example")], allowed_domains=["not a domain"])


def test_a_rule_that_raises_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """This test ensures that a failing host rule does not stop the cascade and shows up in the trace."""

    def crm_lookup(document: Document) -> str:
        raise KeyError("customer 17")

    with caplog.at_level(logging.WARNING, logger="mailbill.senders"):
        result = SenderCascade([crm_lookup, fixed("info@kantoor.example")]).resolve(Document("k", "d/1"))
    assert result.rule == "fixed"
    assert result.trace[0].rule == "crm_lookup"
    assert result.trace[0].status is RuleStatus.RAISED
    assert "KeyError" in result.trace[0].detail
    assert "crm_lookup" in caplog.text


def test_plain_functions_may_return_address_text_or_objects() -> None:
    """This test ensures that any callable is a rule, whatever of the allowed types it returns."""

    def blank(document: Document) -> str:
        return "  "

    def as_address(document: Document) -> Address:
        return Address.parse("Kantoor <info@kantoor.example>")

    def wrong_type(document: Document) -> object:
        return 42

    cascade = SenderCascade([blank, wrong_type, as_address])  # type: ignore[list-item]
    result = cascade.resolve(Document("k", "d/1"))
    assert result.rule == "as_address"
    assert [o.status for o in result.trace] == [
        RuleStatus.NO_VALUE,
        RuleStatus.INVALID_ADDRESS,
        RuleStatus.ANSWERED,
    ]
    assert result.sender == Sender(Address("info@kantoor.example", "Kantoor"))


def test_001_system_no_reply_account_with_the_companys_reply_to() -> None:
    """This test ensures that a company without own account uses the system account, replies to it."""

    def system_account(document: Document) -> Sender:
        company = document.context["company"]
        assert isinstance(company, dict)
        return Sender.parse(
            "noreply@invoice.example", reply_to=f"{company['name']} <{company['email']}>", transport="system"
        )

    own_accounts = mapping_rule(
        {"acme": Sender.parse("Fakturaavdelningen <faktura@acme.se>", transport="acme-smtp")},
        name="own account",
    )
    cascade = SenderCascade([own_accounts, system_account])
    context = {"company": {"name": "Bygg AB", "email": "ekonomi@bygg.se"}}
    other = cascade.resolve(Document("invoice", "i/1", tenant="bygg", context=context))
    assert other.rule == "system_account"
    assert other.sender.transport == "system"
    assert other.sender.address.email == "noreply@invoice.example"
    assert [str(a) for a in other.sender.reply_to] == ["Bygg AB <ekonomi@bygg.se>"]
    acme = cascade.resolve(Document("invoice", "i/2", tenant="acme", context=context))
    assert acme.rule == "own account"
    assert acme.sender.transport == "acme-smtp"
    assert str(acme.sender.address) == "Fakturaavdelningen <faktura@acme.se>"
    assert acme.sender.reply_to == ()


def test_003_mapping_by_facility_and_kind() -> None:
    """This test ensures that the most specific mapping key wins: (tenant, kind), tenant, (None, kind)."""
    rule = mapping_rule(
        {
            ("tilleuls", "invoice"): Sender.parse(
                "Factures <factures@tilleuls.example>", transport="assoc-a"
            ),
            "tilleuls": "Les Tilleuls <contact@tilleuls.example>",
            (None, "reminder"): Address.parse("relances@assoc.example"),
        }
    )
    cascade = SenderCascade([rule])
    invoice = cascade.resolve(Document("invoice", "i/1", tenant="tilleuls")).sender
    assert (invoice.address.email, invoice.transport) == ("factures@tilleuls.example", "assoc-a")
    notice = cascade.resolve(Document("notice", "n/1", tenant="tilleuls")).sender
    assert notice.address.email == "contact@tilleuls.example"
    reminder = cascade.resolve(Document("reminder", "r/1", tenant="roses")).sender
    assert reminder.address.email == "relances@assoc.example"
    with pytest.raises(SenderNotResolvedError) as info:
        cascade.resolve(Document("invoice", "i/2", tenant="roses"))
    assert "no entry for this tenant and kind" in str(info.value)


def test_configuration_mistakes_fail_at_construction() -> None:
    """This test ensures that bad configured senders and rules are ConfigurationErrors, raised at once."""
    with pytest.raises(ConfigurationError, match="at least one rule"):
        SenderCascade([])
    with pytest.raises(ConfigurationError, match="not callable"):
        SenderCascade(["info@kantoor.example"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="fixed sender"):
        fixed("not an address")
    with pytest.raises(ConfigurationError, match="entry 'x'"):
        mapping_rule({"x": "bad@@"})
    with pytest.raises(ConfigurationError, match="tenant or a"):
        mapping_rule({(None, None): "a@example.com"})
    with pytest.raises(ConfigurationError, match="tenant or a"):
        mapping_rule({("a", "b", "c"): "a@example.com"})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="dotted path"):
        field_rule("")
    with pytest.raises(ConfigurationError, match="reply_to"):
        field_rule("a.b", reply_to="bad@@")
    with pytest.raises(ConfigurationError, match="Address"):
        Sender("a@example.com")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="transport"):
        Sender(Address("a@example.com"), transport="")
    with pytest.raises(AddressError):
        Sender.parse("bad@@")


def test_field_rule_adds_reply_to_and_transport() -> None:
    """This test ensures that a field rule's configured Reply-To and transport end up on the sender."""
    rule = field_rule("office.email", reply_to="support@kantoor.example", transport="office365")
    doc = Document("k", "d/1", context={"office": {"email": "info@kantoor.example"}})
    sender = SenderCascade([rule]).resolve(doc).sender
    assert sender.transport == "office365"
    assert [a.email for a in sender.reply_to] == ["support@kantoor.example"]
    assert "via 'office365'" in str(sender)
    assert "Reply-To: support@kantoor.example" in str(sender)


def test_resolution_explains_itself_and_cascade_repr_names_rules() -> None:
    """This test ensures that explain() lists every rule tried and repr names the rules in order."""
    cascade = cascade_004()
    result = cascade.resolve(document_004({"office address"}))
    text = result.explain()
    assert text.splitlines()[0] == "From: info@kantoor.example (rule 'office address')"
    assert "1. case manager: no value (case_manager.email is empty)" in text
    assert "4. office address: answered" in text
    assert repr(cascade) == (
        "SenderCascade([case manager, client group, functional address, office address])"
    )
    assert len(cascade.rules) == 4
    assert "field_rule('office.email'" in repr(cascade.rules[3])


def test_field_rule_accepts_senders_and_addresses_from_host_objects() -> None:
    """This test ensures that a context value may already be a Sender or an Address, used as it is."""
    ready = Sender.parse(
        "Eva <eva@kantoor.example>", envelope_sender="bounces@kantoor.example", transport="x"
    )
    doc = Document(
        "k",
        "d/1",
        context={"a": {"sender": ready}, "b": {"email": Address.parse("info@kantoor.example")}, "c": ""},
    )
    assert SenderCascade([field_rule("a.sender")]).resolve(doc).sender is ready
    assert ready.envelope_sender == Address("bounces@kantoor.example")
    cascade = SenderCascade([field_rule("c"), field_rule("b.email")])
    result = cascade.resolve(doc)
    assert result.sender == Sender(Address("info@kantoor.example"))
    assert result.trace[0].status is RuleStatus.NO_VALUE
    with pytest.raises(ConfigurationError, match="envelope_sender"):
        Sender(Address("a@example.com"), envelope_sender="b@example.com")  # type: ignore[arg-type]


def test_rule_reprs_say_what_they_are() -> None:
    """This test ensures that built-in rules have a readable repr for logs and debugging."""
    assert repr(fixed("a@example.com")) == "fixed('a@example.com')"
    assert repr(mapping_rule({"t": "a@example.com"}, name="per tenant")) == (
        "mapping_rule(<1 entries>, name='per tenant')"
    )
