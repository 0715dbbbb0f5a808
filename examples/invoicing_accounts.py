"""Seed 001: invoices from the system's no-reply account, or from the company's own SMTP account.

Companies that set up their own SMTP account send from it; the others send through
the system's no-reply account with the company's address as Reply-To, so answers
still reach the company. The template is chosen from the customer's invoice
language, with the merge fields written as the old system wrote them.
"""

from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from _loopback import LoopbackSMTP

from mailbill import (
    Document,
    Mailer,
    Party,
    Sender,
    SenderCascade,
    SMTPTransport,
    SQLiteOutbox,
    fixed,
    mapping_rule,
)
from mailbill.templates import MappingLoader, Templates, convert_legacy

FIELDS = {"Customer.Contact.Name": "customer.contact", "Number": "number", "DueDate": "due|date('long')"}
OLD_TEXTS = {
    "sv": ("Faktura {Number}", "Hej {Customer.Contact.Name}!\nFaktura {Number} förfaller {DueDate}.\n"),
    "en": ("Invoice {Number}", "Dear {Customer.Contact.Name},\ninvoice {Number} is due {DueDate}.\n"),
}


def main() -> None:
    loader = MappingLoader(
        {
            ("invoice", lang): {
                "subject": convert_legacy(subject, syntax="braces", fields=FIELDS),
                "text": convert_legacy(body, syntax="braces", fields=FIELDS),
            }
            for lang, (subject, body) in OLD_TEXTS.items()
        }
    )
    own_accounts = mapping_rule(
        {"acme": Sender.parse("Acme Bygg AB <faktura@acme.example>", transport="acme")},
        name="company's own account",
    )
    system = fixed(
        Sender.parse(
            "Fakturasystemet <no-reply@system.example>", reply_to="ekonomi@kiosk.example", transport="system"
        ),
        name="system no-reply account",
    )
    with tempfile.TemporaryDirectory() as tmp, LoopbackSMTP() as system_smtp, LoopbackSMTP() as acme_smtp:
        mailer = Mailer(
            SQLiteOutbox(Path(tmp) / "outbox.db"),
            templates=Templates(loader, default_language="en"),
            senders=SenderCascade([own_accounts, system]),
            transports={
                "system": SMTPTransport("127.0.0.1", port=system_smtp.port, security="none", name="system"),
                "acme": SMTPTransport("127.0.0.1", port=acme_smtp.port, security="none", name="acme"),
            },
            default_transport="system",
            review=False,
        )
        docs = [
            Document(
                "invoice",
                f"{tenant}/invoice/{n}",
                tenant=tenant,
                recipients=(Party(contact, email, language=lang),),
                fields={
                    "customer": {"contact": contact},
                    "number": n,
                    "due": date(2024, 12, 1),
                    "total": Decimal("100"),
                },
            )
            for tenant, n, contact, email, lang in [
                ("acme", 501, "Karin Lund", "karin@kund.example", "sv-SE"),
                ("kiosk", 77, "John Smith", "john@customer.example", "en-GB"),
            ]
        ]
        mailer.prepare(docs, batch="2024-11")
        mailer.dispatch()
        for label, server in (("company's own account", acme_smtp), ("system account", system_smtp)):
            for _, message in server.received.messages:
                print(
                    f"{label}: From {message['From']}, Reply-To {message['Reply-To']}, "
                    f"Subject {message['Subject']!r}"
                )
        acme_msg = acme_smtp.received.messages[0][1]
        kiosk_msg = system_smtp.received.messages[0][1]
        assert acme_msg["Subject"] == "Faktura 501"
        assert acme_msg["Reply-To"] is None
        assert kiosk_msg["Reply-To"] == "ekonomi@kiosk.example"
        print(mailer.explain(docs[1]))


if __name__ == "__main__":
    main()
