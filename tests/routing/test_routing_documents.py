"""Documents and parties: host data taken as it is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mailbill import Address, Document, DocumentError, Party
from mailbill._documents import lookup_path


def test_party_splits_address_fields_and_drops_empty_entries() -> None:
    """This test ensures that a host field holding several addresses becomes one raw entry each."""
    party = Party("Anna", emails=("anna@example.se; anna@work.example", "", "  "))
    assert party.emails == ("anna@example.se", "anna@work.example")
    assert Party("Bo", emails="bo@example.se").emails == ("bo@example.se",)
    assert Party("Cid", emails=None).emails == ()


def test_party_keeps_invalid_addresses_raw() -> None:
    """This test ensures that invalid addresses are kept for the router to judge, not refused here."""
    party = Party("Piet", emails=("not an address", Address.parse("Piet <piet@example.nl>")))
    assert party.emails == ("not an address", "Piet <piet@example.nl>")


def test_party_refuses_non_text_addresses_and_non_bool_flags() -> None:
    """This test ensures that wrongly typed host data is a DocumentError naming the problem."""
    with pytest.raises(DocumentError, match="must be a string"):
        Party("X", emails=(42,))  # type: ignore[arg-type]
    with pytest.raises(DocumentError, match="string or a list"):
        Party("X", emails=42)  # type: ignore[arg-type]
    with pytest.raises(DocumentError, match=r"opt_in\['notice'\]"):
        Party("X", opt_in={"notice": "yes"})  # type: ignore[dict-item]
    with pytest.raises(DocumentError, match="party name"):
        Party(17)  # type: ignore[arg-type]
    assert Party(None).name == ""  # type: ignore[arg-type]
    with pytest.raises(DocumentError, match="role"):
        Party("X", role="")


def test_opted_in_reads_kind_then_wildcard() -> None:
    """This test ensures that a kind's own flag wins over '*', and an unlisted kind is 'not stated'."""
    party = Party("Anna", opt_in={"*": True, "dunning/3": False})
    assert party.opted_in("invoice") is True
    assert party.opted_in("dunning/3") is False
    assert Party("Bo").opted_in("invoice") is None


def test_mappings_are_frozen_copies() -> None:
    """This test ensures that a document cannot be changed through the dicts the host passed in."""
    fields: dict[str, object] = {"Number": 1001}
    doc = Document("invoice", "i/1", fields=fields)
    fields["Number"] = 9999
    assert doc.fields["Number"] == 1001
    with pytest.raises(TypeError):
        doc.fields["Number"] = 1  # type: ignore[index]
    assert hash(doc) == hash(Document("invoice", "i/1", fields={"Number": 1001}))


def test_document_validates_kind_key_recipients_and_attachments() -> None:
    """This test ensures that a malformed document is refused with a DocumentError saying what is wrong."""
    with pytest.raises(DocumentError, match="kind"):
        Document("", "i/1")
    with pytest.raises(DocumentError, match="key"):
        Document("invoice", " ")
    with pytest.raises(DocumentError, match="Party objects"):
        Document("invoice", "i/1", recipients=("anna@example.se",))  # type: ignore[arg-type]
    with pytest.raises(DocumentError, match="Attachment objects"):
        Document("invoice", "i/1", attachments=(b"%PDF",))  # type: ignore[arg-type]
    with pytest.raises(DocumentError, match="mapping"):
        Document("invoice", "i/1", fields=[("a", 1)])  # type: ignore[arg-type]


def test_a_single_party_is_accepted() -> None:
    """This test ensures that passing one Party instead of a tuple does not iterate its fields."""
    doc = Document("invoice", "i/1", recipients=Party("Anna"))  # type: ignore[arg-type]
    assert doc.recipients == (Party("Anna"),)


def test_template_language_is_the_documents_else_the_first_partys() -> None:
    """This test ensures the language rule: document language, else the first party that has one."""
    parties = (Party("A"), Party("B", language="fr"), Party("C", language="nl"))
    assert Document("invoice", "i/1", recipients=parties).template_language == "fr"
    assert Document("invoice", "i/1", recipients=parties, language="de").template_language == "de"
    assert Document("invoice", "i/1").template_language is None


def test_lookup_path_walks_mappings_and_attributes_context_first() -> None:
    """This test ensures that dotted paths reach host objects and fall back from context to fields."""
    manager = SimpleNamespace(email="eva@office.example", name="Eva")
    doc = Document(
        "welcome",
        "w/1",
        fields={
            "Customer": {"Contact": {"Name": "Anna"}},
            "case_manager": {"email": "from-fields@x.example"},
        },
        context={"case_manager": manager, "office": {"email": None}},
    )
    assert lookup_path(doc, "case_manager.email") == "eva@office.example"
    assert lookup_path(doc, "Customer.Contact.Name") == "Anna"
    assert lookup_path(doc, "office.email") is None
    assert lookup_path(doc, "office.email.domain") is None
    assert lookup_path(doc, "nothing") is None
