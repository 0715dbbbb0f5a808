"""The PostgreSQL API as a host writes it; checked by mypy --strict, never executed."""

from __future__ import annotations

import threading

import psycopg

import mailbill


def enqueue_with_invoice(dsn: str, item: mailbill.NewItem) -> mailbill.OutboxItem:
    outbox = mailbill.PostgresOutbox(dsn, schema="billing_mail")
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO invoices (number) VALUES (1001)")
        stored = outbox.add(item, connection=conn)
        items: list[mailbill.OutboxItem] = outbox.add_many([item], connection=conn)
        conn.commit()
    assert items
    return stored


def worker(url: str, transport: mailbill.SMTPTransport, stop: threading.Event) -> None:
    outbox = mailbill.outbox_from_url(url)
    assert isinstance(outbox, mailbill.PostgresOutbox)
    limiter: mailbill.RateLimiter = outbox.rate_limiter("m365", ["30/minute"])
    waited: float = limiter.acquire()
    shared = mailbill.PostgresRateLimiter(outbox, "m365", [mailbill.Rate.parse("30/minute")])
    woke: bool = outbox.wait_for_work(30.0, stop=stop)
    dispatcher = mailbill.Dispatcher(
        outbox, {"m365": transport}, rates={"m365": ["30/minute"]}, limiter_factory=outbox.rate_limiter
    )
    assert waited >= 0
    assert woke in (True, False)
    assert shared.account == "m365"
    dispatcher.run_forever(poll_interval=30, stop=stop)


def from_factory(dsn: str) -> mailbill.PostgresOutbox:
    def connect() -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(dsn, autocommit=True)

    return mailbill.PostgresOutbox(connect)
