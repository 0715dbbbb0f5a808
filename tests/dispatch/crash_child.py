"""A dispatcher process for the crash test: recover, then send until nothing is due.

Usage: python crash_child.py OUTBOX_PATH SMTP_PORT
Prints "ready" once recovered, so the parent can kill it while it sends.
"""

from __future__ import annotations

import sys

from loopback import LoopbackTransport

from mailbill import Dispatcher, SQLiteOutbox


def main() -> int:
    path, port = sys.argv[1], int(sys.argv[2])
    with SQLiteOutbox(path) as outbox:
        dispatcher = Dispatcher(
            outbox, LoopbackTransport(port, name="default"), rates=["1 per 0.005 s"], lease_seconds=600
        )
        # the only dispatcher: whatever a killed predecessor held is in doubt
        dispatcher.recover(include_unexpired=True)
        print("ready", flush=True)
        dispatcher.run_once()
    return 0


if __name__ == "__main__":
    sys.exit(main())
