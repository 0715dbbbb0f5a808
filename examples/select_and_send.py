"""A host UI's "select and send" screen: list invoices, tick some, send, resend, show history.

Runs on its own: a SQLite outbox in a temporary directory and an in-memory
transport. The dispatcher runs in a background thread, as in a desktop or web
application; the screen reads the outbox while it sends.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from mailbill import Address, Dispatcher, NewItem, OutgoingMessage, SQLiteOutbox, Status
from mailbill.testing import MemoryTransport

INVOICES = {"2026-0101": "anna@example.se", "2026-0102": "bo@example.se", "2026-0103": "cilla@example.se"}


def invoice_item(number: str, email: str) -> NewItem:
    message = OutgoingMessage(
        sender=Address.parse("Hyresavier <avi@example.se>"),
        to=Address.parse_list(email),
        subject=f"Hyresavi {number}",
        text="Hej!\n\nHär kommer din hyresavi.\n",
        business_key=f"invoice/{number}",
    )
    return NewItem.from_message(message, batch="avier-2026-01", kind="invoice", reference=f"Avi {number}")


def screen(outbox: SQLiteOutbox) -> None:
    """What the invoice list shows: status and when each invoice was last sent."""
    keys = [f"invoice/{n}" for n in INVOICES]
    last = outbox.last_sent(keys)
    for key in keys:
        item = outbox.get_by_key(key)
        sent = last[key].strftime("%Y-%m-%d %H:%M") if key in last else "never"
        print(f"  {item.reference:12} v{item.version} {item.status.value:10} last sent: {sent}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, SQLiteOutbox(Path(tmp) / "outbox.sqlite3") as outbox:
        outbox.add_many(invoice_item(n, e) for n, e in INVOICES.items())
        print("after the invoice run:")
        screen(outbox)

        # the user ticks two invoices and clicks "Send"
        ticked = [outbox.get_by_key("invoice/2026-0101").id, outbox.get_by_key("invoice/2026-0103").id]
        outbox.release(ticked)
        print("reminder list (released, not sent yet):", [i.reference for i in outbox.pending()])

        transport = MemoryTransport(name="default")
        dispatcher = Dispatcher(outbox, transport, rates=["10 per 1 s"])
        stop = threading.Event()
        worker = threading.Thread(target=dispatcher.run_forever, kwargs={"poll_interval": 0.05, "stop": stop})
        worker.start()
        while outbox.pending():
            stop.wait(0.02)  # the screen refreshes while the dispatcher sends
        print("after sending:")
        screen(outbox)

        # a customer lost the mail: send it again (a new version; the first stays as history)
        outbox.resend("invoice/2026-0101")
        while outbox.pending():
            stop.wait(0.02)
        stop.set()
        worker.join()
        print("history of invoice/2026-0101:")
        for version in outbox.history("invoice/2026-0101"):
            for attempt in version.attempts:
                print(f"  v{version.version} {attempt.outcome.value:8} {attempt.reason}")
        assert len(transport.outbox) == 3
        assert outbox.get_by_key("invoice/2026-0102").status is Status.DRAFT


if __name__ == "__main__":
    main()
