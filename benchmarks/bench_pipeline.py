"""Whole pipeline throughput: mailbill against smtplib, the stdlib loop and Django, in one run.

Every client sends the same realistic invoice (see ``_invoice.py``) over one
connection to the same loopback sink (``_sink.py``: answers 250 at once, offers
PIPELINING), each in its own process:

- ``smtplib pre-built bytes``: the ceiling for a Python smtplib client;
- ``stdlib EmailMessage``: jinja2 + babel + ``EmailMessage(policy=default)`` + smtplib;
- ``Django``: the same rendering + ``EmailMultiAlternatives`` + Django's SMTP backend
  (only when ``import django`` works; install it with ``MAILBILL_BENCH_EXTRA=django``);
- ``mailbill``: ``Templates.render`` + compose + ``SQLiteOutbox`` (add, claim, mark sent)
  + ``SMTPTransport`` through the ``Dispatcher``; ``durable=False`` (WAL,
  ``synchronous=NORMAL``: survives a killed process) and ``durable=True``
  (``synchronous=FULL``: also survives a power loss).

Run: ``python benchmarks/bench_pipeline.py [--quick] [--count N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from _harness import emit, machine, measure, run_child, table
from _sink import Sink

SCENARIOS = {
    "prebuilt": "smtplib pre-built bytes",
    "stdlib": "stdlib EmailMessage + jinja2 + babel",
    "django": "Django EmailMultiAlternatives + SMTP backend",
    "mailbill": "mailbill pipeline, durable=False",
    "mailbill-durable": "mailbill pipeline, durable=True",
}


def child(scenario: str, port: int, count: int) -> None:
    """Run one scenario (warm-up first, then ``count`` timed messages) and print its result."""
    import _invoice as inv

    pdf = inv.make_pdf()
    host = "127.0.0.1"
    warm = min(30, count)
    if scenario.startswith("mailbill"):
        durable = scenario == "mailbill-durable"
        inv.send_mailbill(host, port, warm, pdf, durable=durable)
        emit(measure(lambda: inv.send_mailbill(host, port, count, pdf, durable=durable)))
        return
    send = {"prebuilt": inv.send_prebuilt, "stdlib": inv.send_stdlib, "django": inv.send_django}[scenario]
    send(host, port, warm, pdf)
    emit(measure(lambda: send(host, port, count, pdf)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (300 a client)")
    parser.add_argument("--count", type=int, help="messages a client (default 1000)")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (300 if args.quick else 1000)
    if args.scenario:
        child(args.scenario, args.port, count)
        return 0

    have_django = importlib.util.find_spec("django") is not None
    results: dict[str, dict[str, float]] = {}
    with Sink() as sink:
        print(f"bench_pipeline: {count} invoices a client; {machine()}")
        print(f"sink: {sink.describe()}; one connection a client, one process a client")
        for name in SCENARIOS:
            if name == "django" and not have_django:
                continue
            before = sink.received()
            results[name] = run_child("bench_pipeline.py", ["--scenario", name, "--port", str(sink.port),
                                                            "--count", str(count)])  # fmt: skip
            received = sink.received() - before
            assert received == count + min(30, count), (name, received)

    base = count / results["prebuilt"]["wall"]
    django = count / results["django"]["wall"] if "django" in results else None
    rows = []
    for name, r in results.items():
        rate = count / r["wall"]
        rows.append([
            SCENARIOS[name],
            f"{rate:,.0f}",
            f"{r['cpu'] / count * 1000:.2f}",
            f"{r['peak_mb']:.0f}",
            f"{rate / base:.2f}x",
            f"{rate / django:.2f}x" if django else "-",
        ])  # fmt: skip
    print(table(["client", "msgs/s", "CPU ms/msg", "peak RSS MB", "vs smtplib", "vs Django"], rows))
    if not have_django:
        print("Django: skipped (not installed; MAILBILL_BENCH_EXTRA=django nox -s bench adds it)")
    for name in ("mailbill", "mailbill-durable"):
        r = results[name]
        print(
            f"{SCENARIOS[name]}: prepare (render + compose + outbox add) "
            f"{r['prepare'] / count * 1000:.2f} ms/msg, "
            f"dispatch (claim + send + mark sent) {r['dispatch'] / count * 1000:.2f} ms/msg"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
