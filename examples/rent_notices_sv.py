"""Seed 000: Swedish rent notices by e-mail, from the owner's address, via SMTP or Outlook.

Only tenants with the flag "send notices by e-mail" get one; the others get paper.
After the notice run a person ticks which notices to send; the rest stay as drafts
on the reminder list. Run with ``--outlook`` to leave the mails in Outlook's Drafts
(here a stand-in of Outlook's object model, so it runs on any system; on Windows
drop ``outlook_factory`` to use the real Outlook).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from _loopback import LoopbackSMTP

from mailbill import (
    Document,
    Mailer,
    OutlookTransport,
    Party,
    Router,
    SenderCascade,
    SMTPTransport,
    SQLiteOutbox,
    Status,
    mapping_rule,
)
from mailbill.templates import MappingLoader, Templates
from mailbill.testing import FakeOutlook

TEMPLATES = Templates(
    MappingLoader(
        {
            ("rent_notice", "sv"): {
                "subject": "Hyresavi {{ period|period }} – {{ address }}",
                "text": "Hej {{ tenant }}!\n\nHyran för {{ period|period }} är {{ rent|money('SEK') }} "
                "och ska vara betald senast {{ due|date('long') }}.\n",
            }
        }
    ),
    default_language="sv",
)

TENANTS = [  # name, e-mail, "send notices by e-mail", flat
    ("Anna Andersson", "anna@example.se", True, "Storgatan 1 A"),
    ("Björn Berg", "bjorn@example.se", True, "Storgatan 1 B"),
    ("Cecilia Ek", "cecilia@example.se", False, "Storgatan 3"),
    ("David Dahl", "david@example.se", True, "Lillgatan 2"),
]


def documents() -> list[Document]:
    return [
        Document(
            "rent_notice",
            f"notice/2024-11/{flat}",
            recipients=(Party(name, email, language="sv", opt_in={"rent_notice": by_email}),),
            fields={
                "tenant": name,
                "address": flat,
                "period": date(2024, 11, 1),
                "rent": Decimal("8450.00"),
                "due": date(2024, 10, 31),
            },
            tenant="owner-1",
        )
        for name, email, by_email, flat in TENANTS
    ]


def main(use_outlook: bool) -> None:
    owners = mapping_rule({"owner-1": "Fastighets AB Exempel <hyra@exempel.se>"}, name="owner's address")
    with tempfile.TemporaryDirectory() as tmp, LoopbackSMTP() as server:
        outlook = FakeOutlook(accounts=["hyra@exempel.se"])
        transport = (
            OutlookTransport(mode="draft", account="hyra@exempel.se", outlook_factory=outlook.binding)
            if use_outlook
            else SMTPTransport("127.0.0.1", port=server.port, security="none")
        )
        outbox = SQLiteOutbox(Path(tmp) / "outbox.db")
        mailer = Mailer(
            outbox,
            templates=TEMPLATES,
            senders=SenderCascade([owners]),
            router=Router(require_opt_in=True),  # the tenant's "send notices by e-mail" flag
            transports=transport,
        )
        report = mailer.prepare(documents(), batch="notices-2024-11")
        print(report)
        # The person ticks Anna and David; Björn's notice waits on the reminder list.
        ticked = [p.item_id for p in report.documents if p.key.endswith(("1 A", "2")) and p.item_id]
        mailer.release(ids=[i for i in ticked if i is not None])
        print(f"sent now: {mailer.dispatch().sent}")
        waiting = outbox.find(status=Status.DRAFT, batch="notices-2024-11")
        print("still to send:", ", ".join(item.key for item in waiting))
        on_paper = outbox.find(status=Status.PAPER)
        print("on paper:", ", ".join(f"{i.key} ({i.reason})" for i in on_paper))
        if use_outlook:
            print(f"Outlook drafts: {[d.Subject for d in outlook.drafts]}")
            assert len(outlook.drafts) == 2
        else:
            assert sorted(r[0][0] for r in server.received.messages) == [
                "anna@example.se",
                "david@example.se",
            ]
        assert [i.key for i in waiting] == ["notice/2024-11/Storgatan 1 B"]
        assert [i.reason for i in on_paper] == ["opted_out"]


if __name__ == "__main__":
    main(use_outlook="--outlook" in sys.argv[1:])
