"""A dispatcher worker process for the PostgreSQL tests: send until nothing is due, then exit.

Usage: python pg_worker.py DSN SCHEMA SMTP_PORT RATE [crash]
Prints "ready" once connected. With "crash", sends slowly (a long lease, one
message per 4 ms) so the parent can SIGKILL it in the middle of the batch and
recovers every item in doubt first (it is then the only worker).
"""

from __future__ import annotations

import sys

from mailbill import Dispatcher, PostgresOutbox, SMTPTransport


def main() -> int:
    dsn, schema, port, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    crash = sys.argv[5:] == ["crash"]
    with PostgresOutbox(dsn, schema=schema) as outbox:
        transport = SMTPTransport("127.0.0.1", port=port, security="none", name="default", timeout=10)
        dispatcher = Dispatcher(
            outbox,
            transport,
            rates=[rate],
            limiter_factory=outbox.rate_limiter,
            lease_seconds=600 if crash else 60,
        )
        if crash:
            # the only dispatcher: whatever a killed predecessor held is in doubt
            dispatcher.recover(include_unexpired=True)
        print("ready", flush=True)
        dispatcher.run_once()
    return 0


if __name__ == "__main__":
    sys.exit(main())
