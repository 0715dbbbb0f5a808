"""Seed 002: a German dunning run, one mail every 20 seconds, German as the fallback language.

Dunning levels 1 and 2 are enabled for e-mail, level 3 goes on paper; a blocked
address means paper too. Texts exist in German (the default) and French; a
customer without a language, or in Italian, gets German, and a Swiss customer gets
German with Swiss number formats. The dispatcher sends one mail every 20 seconds
(under 60 s risks spam blocks with some providers); a fake clock stands in for the
waiting, so the example runs in a second and prints when each mail would leave.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from _loopback import LoopbackSMTP

from mailbill import (
    DispatchEvent,
    Document,
    Mailer,
    Party,
    Router,
    SenderCascade,
    SMTPTransport,
    SQLiteOutbox,
    Status,
    SuppressionReason,
    fixed,
)
from mailbill.templates import MappingLoader, Templates
from mailbill.testing import FakeClock

TEMPLATES = Templates(
    MappingLoader(
        {
            ("dunning-1", "de"): {
                "subject": "Zahlungserinnerung zu Rechnung {{ invoice }}",
                "text": "Guten Tag {{ name }},\n\nder Betrag von {{ open|money('EUR') }} ist noch offen.\n",
            },
            ("dunning-2", "de"): {
                "subject": "2. Mahnung zu Rechnung {{ invoice }}",
                "text": "Guten Tag {{ name }},\n\nbitte überweisen Sie {{ open|money('EUR') }} umgehend.\n",
            },
            ("dunning-1", "fr"): {
                "subject": "Rappel de paiement – facture {{ invoice }}",
                "text": "Bonjour {{ name }},\n\nle montant de {{ open|money('EUR') }} reste dû.\n",
            },
        }
    ),
    default_language="de",
)

# customer, e-mail, correspondence language, dunning level, open amount
RUN = [
    ("Anna Berg", "anna.berg@example.de", None, 1, "120.00"),
    ("Luc Martin", "luc.martin@example.fr", "fr", 1, "1250.50"),
    ("Urs Meier", "urs.meier@example.ch", "de-CH", 2, "2399.95"),
    ("Giulia Rossi", "giulia@example.it", "it", 1, "80.00"),
    ("Max Blocked", "max@bounced.example", "de", 1, "45.00"),
    ("Eva Klein", "eva.klein@example.de", "de", 3, "990.00"),
]


def main() -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp, LoopbackSMTP() as server:
        outbox = SQLiteOutbox(Path(tmp) / "outbox.db", archive=True, clock=clock.now)
        outbox.suppress("max@bounced.example", SuppressionReason.HARD_BOUNCE, "550 5.1.1 user unknown")
        sent_at: dict[str, float] = {}

        def on_event(event: DispatchEvent) -> None:
            if event.new is Status.SENT:
                sent_at[event.key] = clock()

        mailer = Mailer(
            outbox,
            templates=TEMPLATES,
            senders=SenderCascade([fixed("Mahnwesen Beispiel GmbH <mahnung@beispiel.example>")]),
            router=Router(enabled_kinds={"dunning-1", "dunning-2"}, suppression=outbox.suppression),
            transports=SMTPTransport("127.0.0.1", port=server.port, security="none"),
            rates=["1 per 20 s"],
            on_event=on_event,
            dispatcher_options={"clock": clock.now, "monotonic": clock, "sleep": clock.sleep},
        )
        documents = [
            Document(
                f"dunning-{level}",
                f"dunning/2024-11/{n}",
                recipients=(Party(name, email, language=language),),
                fields={"name": name, "invoice": f"R-{n}", "open": Decimal(amount)},
            )
            for n, (name, email, language, level, amount) in enumerate(RUN, start=4711)
        ]
        print(mailer.prepare(documents, batch="dunning-2024-11"))
        print(f"released: {mailer.release(batch='dunning-2024-11')}")
        mailer.dispatch()
        for document in documents:
            item = outbox.get_by_key(document.key)
            when = f"after {sent_at[document.key]:>4.0f} s" if document.key in sent_at else ""
            print(f"{document.key:<20} {item.status.value:<8} {when:<13} {item.reason}")
        subjects = sorted(str(m["Subject"]) for _, m in server.received.messages)
        print("subjects:", subjects)
        assert len(server.received.messages) == 4
        assert "Rappel de paiement – facture R-4712" in subjects  # French text for the French customer
        assert "Zahlungserinnerung zu Rechnung R-4714" in subjects  # Italian falls back to German
        times = sorted(sent_at.values())
        assert all(b - a >= 20 for a, b in pairwise(times))
        assert outbox.get_by_key("dunning/2024-11/4715").reason == "blocked"
        assert outbox.get_by_key("dunning/2024-11/4716").reason == "kind_not_enabled"
        swiss = next(m for _, m in server.received.messages if "R-4713" in str(m["Subject"]))
        body = swiss.get_body(("plain",))
        assert body is not None
        print(body.get_content().strip().splitlines()[-1])


if __name__ == "__main__":
    main()
