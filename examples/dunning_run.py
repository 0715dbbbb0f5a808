"""A dunning run: prepare letters, release them, send one every few seconds, print the rest.

Runs on its own: the outbox is a SQLite file in a temporary directory and the
transport keeps mail in memory. In production use an SMTP transport and a rate
such as "1 per 20 s" (see docs/howto/dunning-run.md).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mailbill import (
    Address,
    AddressError,
    Dispatcher,
    DispatchEvent,
    NewItem,
    OutgoingMessage,
    RetryPolicy,
    SQLiteOutbox,
    Status,
)
from mailbill.testing import MemoryTransport

# what the billing application's dunning run produced: (customer, e-mail, amount)
DUNNING_RUN = "dunning-2026-01"
LETTERS = [
    ("10001", "anna.berg@example.de", "120.00"),
    ("10002", "", "75.50"),  # no e-mail address: goes on paper
    ("10003", "kai.schulz@example.de", "310.20"),
    ("10004", "not an address", "18.00"),  # a bad address: paper, with the reason
    ("10005", "lena.vogel@example.de", "42.00"),
]


def prepare(outbox: SQLiteOutbox) -> None:
    """Turn every letter of the run into an outbox item: DRAFT to e-mail, or PAPER with a reason."""
    items = []
    for customer, email, amount in LETTERS:
        key = f"dunning/{DUNNING_RUN}/{customer}"
        reference = f"Mahnung {customer}"
        if not email:
            reason = "no e-mail address on file"
            items.append(NewItem.paper(key, reason, batch=DUNNING_RUN, kind="dunning", reference=reference))
            continue
        try:
            message = OutgoingMessage(
                sender=Address.parse("Buchhaltung <buchhaltung@example.de>"),
                to=Address.parse_list(email),
                subject=f"Zahlungserinnerung, Kundennummer {customer}",
                text=f"Guten Tag,\n\nbitte überweisen Sie den offenen Betrag von {amount} EUR.\n",
                business_key=key,
            )
        except AddressError as exc:
            decision = json.dumps({"paper": str(exc)})
            items.append(
                NewItem.paper(
                    key, str(exc), batch=DUNNING_RUN, kind="dunning", reference=reference, decision=decision
                )
            )
            continue
        decision = json.dumps({"to": email, "why": "customer master data"})
        items.append(
            NewItem.from_message(
                message, batch=DUNNING_RUN, kind="dunning", reference=reference, decision=decision
            )
        )
    outbox.add_many(items)  # a second run of the same dunning run adds nothing


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, SQLiteOutbox(Path(tmp) / "outbox.sqlite3") as outbox:
        prepare(outbox)
        prepare(outbox)  # idempotent: the business keys are already there
        print("prepared:", {s.value: n for s, n in outbox.counts(batch=DUNNING_RUN).items() if n})

        # the clerk has printed the paper letters and releases the e-mails
        outbox.release(batch=DUNNING_RUN)

        def progress(event: DispatchEvent) -> None:
            if event.new is not Status.SENDING:
                print(f"  {event.key}: {event.new.value} {event.detail}")

        transport = MemoryTransport(name="default")
        dispatcher = Dispatcher(
            outbox,
            transport,
            rates=["1 per 0.05 s"],  # in production: "1 per 20 s" or slower
            retry=RetryPolicy(max_attempts=5),
            on_event=progress,
        )
        report = dispatcher.run_once()
        print("sent:", report.sent, "| counts:", {s.value: n for s, n in outbox.counts().items() if n})
        for item in outbox.find(batch=DUNNING_RUN, status=Status.PAPER):
            print(f"print on paper: {item.reference} ({item.reason})")
        assert report.sent == 3
        assert len(transport.outbox) == 3


if __name__ == "__main__":
    main()
