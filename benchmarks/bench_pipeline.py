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
  (``synchronous=FULL``: also survives a power loss); and once more with the
  dispatcher on 3 connections (``parallel=3``), which matters where the server
  takes time to answer (``bench_postfix.py``).

Two more rows show the deployment the docs recommend, where the host prepares and a
dispatcher worker (``mailbill dispatch --forever``) sends, in two processes that
overlap; for a fair comparison Django gets two processes too, each sending half:

- ``Django, 2 processes``: two ``send_django`` children at once, one connection each;
- ``mailbill, 2 processes``: one child prepares into the SQLite outbox (``durable=False``)
  while another runs ``Dispatcher.run_forever`` on it (one connection; in the last row,
  three: ``parallel=3``).

Their wall time runs from the first child's start to the last one's end; their CPU
time is the sum of both children.

Run: ``python benchmarks/bench_pipeline.py [--quick] [--count N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import emit, machine, measure, run_child, run_together, table, wait_for_go
from _sink import Sink

SCENARIOS = {
    "prebuilt": "smtplib pre-built bytes",
    "stdlib": "stdlib EmailMessage + jinja2 + babel",
    "django": "Django EmailMultiAlternatives + SMTP backend",
    "mailbill": "mailbill pipeline, durable=False",
    "mailbill-durable": "mailbill pipeline, durable=True",
    "mailbill-p3": "mailbill pipeline, durable=False, 3 connections",
    "django-2": "Django, 2 processes",
    "mailbill-2": "mailbill, 2 processes (prepare | dispatch)",
    "mailbill-2p3": "mailbill, 2 processes, dispatch on 3 connections",
}

#: The two-process scenarios: each child's role.
TOGETHER = {
    "django-2": ["django-half", "django-half"],
    "mailbill-2": ["mailbill-prepare", "mailbill-dispatch"],
    "mailbill-2p3": ["mailbill-prepare", "mailbill-dispatch-p3"],
}


def child(scenario: str, host: str, port: int, count: int, outbox_path: str = "") -> None:
    """Run one scenario (warm-up first, then ``count`` timed messages) and print its result."""
    import _invoice as inv

    pdf = inv.make_pdf()
    warm = min(30, count)
    if scenario in ("django-half", "mailbill-prepare", "mailbill-dispatch", "mailbill-dispatch-p3"):
        together_child(scenario, host, port, count, pdf, Path(outbox_path))
        return
    if scenario.startswith("mailbill"):
        durable = scenario == "mailbill-durable"
        parallel = 3 if scenario == "mailbill-p3" else 1
        inv.send_mailbill(host, port, warm, pdf, durable=durable, parallel=parallel)
        emit(measure(lambda: inv.send_mailbill(host, port, count, pdf, durable=durable, parallel=parallel)))
        return
    send = {"prebuilt": inv.send_prebuilt, "stdlib": inv.send_stdlib, "django": inv.send_django}[scenario]
    send(host, port, warm, pdf)
    emit(measure(lambda: send(host, port, count, pdf)))


def together_child(scenario: str, host: str, port: int, count: int, pdf: bytes, path: Path) -> None:
    """One child of a two-process scenario: set up, say ready, wait for the start, run, report."""
    import _invoice as inv

    from mailbill import SQLiteOutbox

    if scenario == "django-half":
        inv.send_django(host, port, min(30, count), pdf)
        wait_for_go()
        emit(measure(lambda: inv.send_django(host, port, count, pdf)))
        return
    with SQLiteOutbox(path, durable=False) as outbox:
        if scenario == "mailbill-prepare":
            templates = inv.warm_templates()
            wait_for_go()
            emit(measure(lambda: inv.prepare_mailbill(outbox, templates, count, pdf)))
        else:
            parallel = 3 if scenario == "mailbill-dispatch-p3" else 1
            wait_for_go()
            emit(measure(lambda: inv.dispatch_mailbill(outbox, host, port, count, parallel=parallel)))


def run_scenario(name: str, port: int, count: int, *, host: str = "127.0.0.1") -> tuple[dict[str, Any], int]:
    """Run one scenario's child (or children); returns the result and the messages it sends.

    ``bench_postfix.py`` runs the two-process scenarios through this too.
    """
    common = ["--host", host, "--port", str(port)]
    if name not in TOGETHER:
        argv = ["--scenario", name, *common, "--count", str(count)]
        return {**run_child("bench_pipeline.py", argv), "messages": count}, count + min(30, count)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "outbox.sqlite3")
        roles = TOGETHER[name]
        share = count // 2 if name == "django-2" else count
        argvs = [["--scenario", r, *common, "--count", str(share), "--outbox", path] for r in roles]
        sent = 2 * share if name == "django-2" else count
        warm = 2 * min(30, share) if name == "django-2" else 0
        return {**run_together("bench_pipeline.py", argvs), "messages": sent}, sent + warm


def report(
    results: dict[str, dict[str, Any]],
    count: int,
    *,
    have_django: bool,
    extra: tuple[str, Callable[[dict[str, Any]], str]] | None = None,
) -> None:
    """Print the table (with an ``extra`` column: header and cell maker) and the notes under it."""
    base = count / results["prebuilt"]["wall"]
    django = count / results["django"]["wall"] if "django" in results else None
    rows = []
    for name, r in results.items():
        rate = r["messages"] / r["wall"]
        rows.append([
            SCENARIOS[name],
            f"{rate:,.0f}",
            f"{r['cpu'] / r['messages'] * 1000:.2f}",
            f"{r['peak_mb']:.0f}",
            f"{rate / base:.2f}x",
            f"{rate / django:.2f}x" if django else "-",
            *([extra[1](r)] if extra else []),
        ])  # fmt: skip
    headers = ["client", "msgs/s", "CPU ms/msg", "peak RSS MB", "vs smtplib", "vs Django"]
    print(table([*headers, extra[0]] if extra else headers, rows))
    if not have_django:
        print("Django: skipped (not installed; MAILBILL_BENCH_EXTRA=django nox -s bench adds it)")
    if "django-2" in results:
        two = {n: results[n]["messages"] / results[n]["wall"] for n in ("django-2", "mailbill-2")}
        print(f"two processes each: mailbill {two['mailbill-2'] / two['django-2']:.2f}x Django")
    for name in ("mailbill", "mailbill-durable", "mailbill-p3"):
        r = results[name]
        print(
            f"{SCENARIOS[name]}: prepare (render + compose + outbox add) "
            f"{r['prepare'] / count * 1000:.2f} ms/msg, "
            f"dispatch (claim + send + mark sent) {r['dispatch'] / count * 1000:.2f} ms/msg"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (300 a client)")
    parser.add_argument("--count", type=int, help="messages a client (default 1000)")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--outbox", default="", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (300 if args.quick else 1000)
    if args.scenario:
        child(args.scenario, args.host, args.port, count, args.outbox)
        return 0

    have_django = importlib.util.find_spec("django") is not None
    results: dict[str, dict[str, Any]] = {}
    with Sink() as sink:
        print(f"bench_pipeline: {count} invoices a client; {machine()}")
        print(f"sink: {sink.describe()}; one connection a client, one process a client")
        for name in SCENARIOS:
            if name.startswith("django") and not have_django:
                continue
            before = sink.received()
            results[name], expected = run_scenario(name, sink.port, count)
            received = sink.received() - before
            assert received == expected, (name, received, expected)

    report(results, count, have_django=have_django)
    return 0


if __name__ == "__main__":
    sys.exit(main())
