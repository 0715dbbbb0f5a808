"""Seed 003: a care home e-mails each resident's invoice to the resident and the guardian.

The facility's text uses the old keywords ``&personne`` and ``&periode``; it is
converted once, then every invoice goes to every address of the resident
(resident and guardian) through the association's SMTP server (here a loopback
server, as smtp.office365.com:587 would be in production).
"""

from __future__ import annotations

import io
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from _loopback import LoopbackSMTP
from pypdf import PdfWriter

from mailbill import (
    Attachment,
    Document,
    Mailer,
    Party,
    SenderCascade,
    SMTPTransport,
    SQLiteOutbox,
    fixed,
)
from mailbill.templates import MappingLoader, Templates, convert_legacy

FACILITY_TEXT = "Bonjour,\n\nVous trouverez ci-joint la facture de &personne pour la période de &periode.\n"
FIELDS = {"personne": "resident.name", "periode": "period|period"}


def invoice_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> None:
    templates = Templates(
        MappingLoader(
            {
                ("invoice", "fr"): {
                    "subject": "Facture {{ number }} – {{ resident.name }}",
                    "text": convert_legacy(FACILITY_TEXT, syntax="ampersand", fields=FIELDS),
                }
            }
        ),
        default_language="fr",
    )
    residents = [
        ("MAILLY Josiane", ["josiane.mailly@example.fr", "tuteur.mailly@example.fr"], "FA-2024-0917"),
        ("DURAND Paul", ["famille.durand@example.fr"], "FA-2024-0918"),
    ]
    with tempfile.TemporaryDirectory() as tmp, LoopbackSMTP() as server:
        smtp = SMTPTransport("127.0.0.1", port=server.port, security="none", name="association")
        mailer = Mailer(
            SQLiteOutbox(Path(tmp) / "outbox.db"),
            templates=templates,
            senders=SenderCascade([fixed("Résidence Les Tilleuls <factures@tilleuls.example.fr>")]),
            transports=smtp,
            review=False,
        )
        documents = [
            Document(
                "invoice",
                f"contribution/2024-09/{number}",
                recipients=(Party(name, emails, language="fr", role="resident"),),
                fields={
                    "number": number,
                    "resident": {"name": name},
                    "period": date(2024, 9, 1),
                    "amount": Decimal("2140.00"),
                },
                attachments=(Attachment.from_bytes(invoice_pdf(), f"{number}.pdf"),),
            )
            for name, emails, number in residents
        ]
        print(mailer.prepare(documents, batch="contributions-2024-09"))
        print(f"sent: {mailer.dispatch().sent}")
        smtp.close()
        for rcpts, message in server.received.messages:
            body = message.get_body(("plain",))
            assert body is not None
            print(f"to {', '.join(rcpts)}: {body.get_content().splitlines()[2]}")
        first_rcpts, first = server.received.messages[0]
        assert first_rcpts == ["josiane.mailly@example.fr", "tuteur.mailly@example.fr"]
        text = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "la facture de MAILLY Josiane pour la période de septembre 2024" in text


if __name__ == "__main__":
    main()
