"""Instructions per message of each client, counted by valgrind: a measure the noise cannot move.

The project's machine is shared, and the same work takes from one to several
times as long from one minute to the next, so wall-clock ratios vary from run
to run. ``valgrind --tool=callgrind`` counts the instructions a process
executes instead: the same count for the same work, whatever else the machine
is doing. Each client of ``bench_pipeline.py`` runs under callgrind against the
loopback sink; counting starts after its warm-up (``callgrind_control -i on``)
and the child exits as soon as its messages are sent, so neither start-up nor
shutdown is counted.

What this leaves out: the kernel's work (socket and file writes, fsync) and
the time an instruction waits for memory. So it complements the wall-clock
benchmarks; it does not replace them.

Run: ``python benchmarks/bench_instructions.py [--quick] [--count N]`` (needs
valgrind; it prints a note and exits 0 without it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from _harness import callgrind, have_callgrind, machine, start_counting, table
from _sink import Sink

CLIENTS = {
    "prebuilt": "smtplib pre-built bytes",
    "django": "Django EmailMultiAlternatives + SMTP backend",
    "mailbill": "mailbill pipeline, durable=False",
    "mailbill-durable": "mailbill pipeline, durable=True",
}


def child(client: str, port: int, count: int) -> None:
    """Warm up, switch callgrind's counting on, send ``count`` invoices, exit at once."""
    import _invoice as inv

    pdf = inv.make_pdf()

    def send(n: int) -> None:
        if client.startswith("mailbill"):
            inv.send_mailbill("127.0.0.1", port, n, pdf, durable=client == "mailbill-durable")
        else:
            {"prebuilt": inv.send_prebuilt, "django": inv.send_django}[client]("127.0.0.1", port, n, pdf)

    send(30)
    start_counting()
    send(count)
    sys.stdout.flush()
    os._exit(0)  # interpreter shutdown is not the client's work


def count_instructions(client: str, port: int, count: int) -> int:
    """Run one client under callgrind; return the instructions it executed while sending."""
    args = ["--client", client, "--port", str(port), "--count", str(count)]
    return callgrind("bench_instructions.py", args, client)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (50 a client)")
    parser.add_argument("--count", type=int, help="messages a client (default 200)")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (50 if args.quick else 200)
    if args.client:
        child(args.client, args.port, count)
        return 0
    if not have_callgrind():
        print("bench_instructions: skipped: valgrind (callgrind) is not installed")
        return 0
    names = [n for n in CLIENTS if n != "django" or importlib.util.find_spec("django") is not None]
    with Sink() as sink:
        print(f"bench_instructions: {count} invoices a client under callgrind; {machine()}")
        print(f"sink: {sink.describe()}; one connection a client, one process a client")
        per_message = {name: count_instructions(name, sink.port, count) / count for name in names}
    base, django = per_message["prebuilt"], per_message.get("django")
    rows = [
        [CLIENTS[name], f"{n / 1e6:.2f}", f"{base / n:.2f}x", f"{django / n:.2f}x" if django else "-"]
        for name, n in per_message.items()
    ]
    print(table(["client", "M instructions/msg", "vs smtplib", "vs Django"], rows))
    print("ratios: the other client's instructions a message divided by this one's (higher is fewer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
