"""The Mailer façade: prepare, release, dispatch, preview, and a bad document never stops a batch."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from mailbill import (
    Attachment,
    ConfigurationError,
    Document,
    Mailer,
    MemoryOutbox,
    MissingFieldError,
    Party,
    Router,
    Sender,
    SenderCascade,
    Status,
    field_rule,
    fixed,
)
from mailbill.templates import MappingLoader, Templates
from mailbill.testing import MemoryTransport

TEMPLATES = Templates(
    MappingLoader(
        {
            ("invoice", "sv"): {
                "subject": "Faktura {{ number }}",
                "text": "Hej {{ name }}! {{ total|money('SEK') }}",
            },
            ("invoice", "de"): {"subject": "Rechnung {{ number }}", "text": "Guten Tag {{ name }}"},
        }
    ),
    default_language="de",
)


def _doc(number: int, emails: tuple[str, ...] = ("kund@example.se",), **fields: object) -> Document:
    return Document(
        "invoice",
        f"invoice/{number}",
        recipients=(Party("Kund", emails, language="sv"),),
        fields={"number": number, "name": "Anna", "total": 1234.5, **fields},
        attachments=(Attachment.from_bytes(b"col1;col2\n", f"rad-{number}.csv"),),
        reference=f"Faktura {number}",
    )


def _mailer(transport: MemoryTransport, **options: object) -> Mailer:
    return Mailer(
        MemoryOutbox(),
        templates=TEMPLATES,
        senders=SenderCascade([fixed("Faktura <faktura@example.se>")]),
        transports=transport,
        **options,  # type: ignore[arg-type]
    )


def test_prepare_release_dispatch_sends_each_document_once() -> None:
    """This test ensures that prepared documents are sent once after release, rendered and attached."""
    transport = MemoryTransport()
    mailer = _mailer(transport)
    report = mailer.prepare([_doc(1), _doc(2)], batch="b1")
    assert [p.outcome for p in report.documents] == ["mail", "mail"]
    assert all(p.status is Status.DRAFT for p in report.documents)
    assert mailer.dispatch().sent == 0  # drafts wait for a person
    assert mailer.release(batch="b1") == 2
    assert mailer.dispatch().sent == 2
    assert [m.subject for m in transport.outbox] == ["Faktura 1", "Faktura 2"]
    parsed = email.message_from_bytes(transport.sent_bytes[0], policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert "1\xa0234,50\xa0kr" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["rad-1.csv"]
    assert mailer.outbox.get_by_key("invoice/1").status is Status.SENT


def test_running_the_same_batch_twice_adds_nothing() -> None:
    """This test ensures that prepare is idempotent on the business key."""
    transport = MemoryTransport()
    mailer = _mailer(transport, review=False)
    mailer.prepare([_doc(1)], batch="b1")
    again = mailer.prepare([_doc(1)], batch="b1")
    assert again.documents[0].outcome == "exists"
    mailer.dispatch()
    mailer.dispatch()
    assert len(transport.outbox) == 1


def test_a_bad_document_is_reported_and_the_batch_goes_on() -> None:
    """This test ensures that a template error on one document does not stop the others."""
    transport = MemoryTransport()
    mailer = _mailer(transport, review=False)
    broken = Document("invoice", "invoice/9", recipients=(Party("X", "x@example.se", language="sv"),))
    report = mailer.prepare([_doc(1), broken, _doc(2)], batch="b")
    assert [p.outcome for p in report.documents] == ["mail", "error", "mail"]
    assert isinstance(report.errors[0].error, MissingFieldError)
    assert "number" in report.errors[0].reason
    assert "1 error" in str(report)
    assert mailer.dispatch().sent == 2


def test_paper_documents_are_stored_with_their_reason() -> None:
    """This test ensures that a document without a usable address becomes PAPER, not nothing."""
    mailer = _mailer(MemoryTransport())
    report = mailer.prepare([_doc(1, emails=()), _doc(2, emails=("not-an-address",))], batch="b")
    assert [(p.outcome, p.reason) for p in report.documents] == [
        ("paper", "no_address"),
        ("paper", "invalid_address"),
    ]
    assert mailer.outbox.counts()[Status.PAPER] == 2


def test_the_sender_picks_the_transport_account() -> None:
    """This test ensures that a Sender's transport name routes the message to that transport."""
    system, company = MemoryTransport(name="system"), MemoryTransport(name="company")
    cascade = SenderCascade(
        [
            field_rule("company.email", transport="company"),
            fixed(Sender.parse("noreply@system.example", transport="system")),
        ]
    )
    mailer = Mailer(
        MemoryOutbox(),
        templates=TEMPLATES,
        senders=cascade,
        transports={"system": system, "company": company},
        default_transport="system",
        review=False,
    )
    own = _doc(1)
    own = Document(
        own.kind,
        own.key,
        recipients=own.recipients,
        fields=own.fields,
        context={"company": {"email": "faktura@acme.example"}},
    )
    mailer.prepare([own, _doc(2)], batch="b")
    mailer.dispatch()
    assert [m.sender.email for m in company.outbox] == ["faktura@acme.example"]
    assert [m.sender.email for m in system.outbox] == ["noreply@system.example"]


def test_preview_and_explain_store_nothing() -> None:
    """This test ensures that previews render the message and explain the decision without side effects."""
    mailer = _mailer(MemoryTransport(), router=Router(require_opt_in=True))
    preview = mailer.preview(_doc(1))
    assert preview.message is None  # not opted in -> paper
    assert "opted_out" in preview.explain()
    mailer2 = _mailer(MemoryTransport())
    preview2 = mailer2.preview(_doc(3))
    assert preview2.message is not None
    assert preview2.message.subject == "Faktura 3"
    assert mailer.outbox.counts() == {} or sum(mailer.outbox.counts().values()) == 0


def test_default_transport_must_exist() -> None:
    """This test ensures that a misconfigured default transport name fails at construction."""
    with pytest.raises(ConfigurationError, match="default_transport"):
        Mailer(
            MemoryOutbox(),
            templates=TEMPLATES,
            senders=SenderCascade([fixed("a@example.se")]),
            transports={"office": MemoryTransport()},
        )


def test_outlook_gets_bodies_and_attachments_back_from_the_outbox() -> None:
    """This test ensures that a transport which rebuilds from fields (Outlook) gets the attachments."""
    from mailbill import OutlookTransport
    from mailbill.testing import FakeOutlook

    outlook = FakeOutlook(accounts=["faktura@example.se"])
    transport = OutlookTransport(mode="draft", account="faktura@example.se", outlook_factory=outlook.binding)
    mailer = Mailer(
        MemoryOutbox(),
        templates=TEMPLATES,
        senders=SenderCascade([fixed("Faktura <faktura@example.se>")]),
        transports=transport,
        review=False,
    )
    mailer.prepare([_doc(7)], batch="b")
    assert mailer.dispatch().sent == 1
    draft = outlook.drafts[0]
    assert draft.Subject == "Faktura 7"
    assert "1\xa0234,50\xa0kr" in draft.Body
    attachments = list(draft.Attachments)
    assert [(a.FileName, a.content) for a in attachments] == [("rad-7.csv", b"col1;col2\n")]


def test_prepare_stores_documents_a_chunk_per_transaction(tmp_path: object) -> None:
    """This test ensures that prepare stores chunk_size documents per add_many, in input order."""
    from pathlib import Path

    from mailbill import NewItem, OutboxItem, SQLiteOutbox

    class CountingOutbox(SQLiteOutbox):
        """A real SQLite outbox that records the size of every add_many."""

        chunks: list[int]

        def add_many(self, items: object, /, **kwargs: object) -> list[OutboxItem]:
            given: list[NewItem] = list(items)  # type: ignore[call-overload]
            self.chunks.append(len(given))
            return super().add_many(given, **kwargs)  # type: ignore[arg-type]

    outbox = CountingOutbox(Path(str(tmp_path)) / "outbox.db")
    outbox.chunks = []
    broken = Document("invoice", "invoice/999", recipients=(Party("X", "x@example.se", language="sv"),))
    documents = [_doc(n) for n in range(1, 6)] + [broken, _doc(6, emails=()), _doc(7)]
    mailer = Mailer(
        outbox,
        templates=TEMPLATES,
        senders=SenderCascade([fixed("Faktura <faktura@example.se>")]),
        transports=MemoryTransport(),
    )
    report = mailer.prepare(documents, batch="b", chunk_size=3)
    assert outbox.chunks == [3, 3, 1]
    assert [p.outcome for p in report.documents] == ["mail"] * 5 + ["error", "paper", "mail"]
    assert [p.key for p in report.documents] == [d.key for d in documents]
    for prepared in report.documents:
        if prepared.item_id is not None:
            assert outbox.get(prepared.item_id).key == prepared.key
    again = mailer.prepare(documents, batch="b", chunk_size=3)
    assert [p.outcome for p in again.documents] == ["exists"] * 5 + ["error", "exists", "exists"]
    assert outbox.chunks == [3, 3, 1]  # nothing new to store
    with pytest.raises(ConfigurationError, match="chunk_size"):
        mailer.prepare(documents, batch="b", chunk_size=0)
    outbox.close()


def test_the_same_key_twice_in_one_chunk_is_stored_once() -> None:
    """This test ensures that a repeated document in one run is reported as existing, as one by one."""
    transport = MemoryTransport()
    mailer = _mailer(transport, review=False)
    report = mailer.prepare([_doc(1), _doc(2), _doc(1)], batch="b", chunk_size=10)
    assert [p.outcome for p in report.documents] == ["mail", "mail", "exists"]
    assert report.documents[2].item_id == report.documents[0].item_id
    assert mailer.dispatch().sent == 2
