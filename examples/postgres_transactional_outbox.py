"""The transactional outbox on PostgreSQL: an invoice and its mail commit together, or not at all.

A billing system that keeps its invoices in PostgreSQL writes the invoice and
adds its mail to the outbox on the same connection, in the same transaction. If
the transaction rolls back, there is no mail for an invoice that does not
exist; once it commits, a worker (woken by LISTEN/NOTIFY) sends it.

Needs a PostgreSQL server: set MAILBILL_TEST_POSTGRES to a DSN, e.g.
``postgresql://postgres@127.0.0.1:5432/test``. Without it the script says so
and exits 0. It works in a schema of its own, which it drops at the end.
"""

from __future__ import annotations

import os
import sys
import uuid

from mailbill import Address, Dispatcher, NewItem, OutgoingMessage, PostgresOutbox, Status
from mailbill.testing import MemoryTransport


def invoice_mail(number: int, email: str) -> NewItem:
    """The outbox item for one invoice, released: the host sends without review."""
    message = OutgoingMessage(
        sender=Address.parse("Billing <billing@example.com>"),
        to=Address.parse_list(email),
        subject=f"Invoice {number}",
        text=f"Dear customer,\n\nplease find invoice {number}.\n",
        business_key=f"invoice/{number}",
    )
    return NewItem.from_message(
        message, kind="invoice", reference=f"Invoice {number}", status=Status.RELEASED
    )


def main() -> int:
    dsn = os.environ.get("MAILBILL_TEST_POSTGRES")
    if not dsn:
        print("this example needs PostgreSQL: set MAILBILL_TEST_POSTGRES to a DSN, e.g.")
        print("  MAILBILL_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/test")
        return 0
    try:
        import psycopg
    except ImportError:
        print('this example needs psycopg: pip install "mailbill[postgres]"')
        return 0

    schema = f"example_{uuid.uuid4().hex[:8]}"
    with PostgresOutbox(dsn, schema=schema) as outbox, psycopg.connect(dsn) as host:
        host.execute(f"CREATE TABLE {schema}.invoices (number int PRIMARY KEY, email text)")
        host.commit()

        # 1. the invoice run fails halfway: the host rolls back, and no mail was queued
        try:
            with host.transaction():
                host.execute(f"INSERT INTO {schema}.invoices VALUES (1001, 'anna@example.org')")
                outbox.add(invoice_mail(1001, "anna@example.org"), connection=host)
                raise RuntimeError("the printer caught fire")
        except RuntimeError as exc:
            print(f"invoice run failed ({exc}): outbox holds {sum(outbox.counts().values())} items")

        # 2. the invoice run succeeds: invoice and mail commit together
        with host.transaction():
            for number, email in ((1001, "anna@example.org"), (1002, "bo@example.org")):
                host.execute(f"INSERT INTO {schema}.invoices VALUES (%s, %s)", (number, email))
                outbox.add(invoice_mail(number, email), connection=host)
        print(f"invoice run committed: {outbox.counts()[Status.RELEASED]} mails released")

        # 3. a worker: its limit ("30/minute", as Microsoft 365) is shared with every other worker
        transport = MemoryTransport(name="default")
        dispatcher = Dispatcher(outbox, transport, rates=["30/minute"], limiter_factory=outbox.rate_limiter)
        report = dispatcher.run_once()
        print(f"dispatched: {report.sent} sent")
        for item in outbox.find():
            print(f"  {item.reference}: {item.status.value}")

        host.execute(f"DROP SCHEMA {schema} CASCADE")
        host.commit()
    return 0 if report.sent == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
