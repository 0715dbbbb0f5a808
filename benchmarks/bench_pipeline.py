"""Whole pipeline throughput: mailbill against smtplib, the stdlib loop and Django, in one run.

Every client sends the same realistic invoice (see ``_invoice.py``) over one
connection to the same loopback sink (``_sink.py``: answers 250 at once, offers
PIPELINING), each in its own process:

- ``smtplib pre-built bytes``: the ceiling for a Python smtplib client;
- ``mailbill SMTPTransport, pre-built message``: the sending part alone on smtplib's
  terms: one message composed once, before sending starts, sent ``count`` times
  with ``SMTPTransport.send_many`` (PIPELINING when offered; no outbox);
- ``stdlib EmailMessage``: jinja2 + babel + ``EmailMessage(policy=default)`` + smtplib;
- ``Django``: the same rendering + ``EmailMultiAlternatives`` + Django's SMTP backend
  (only when ``import django`` works; install it with ``MAILBILL_BENCH_EXTRA=django``);
- ``mailbill``: ``Templates.render`` + compose + ``SQLiteOutbox`` (add, claim, mark sent)
  + ``SMTPTransport`` through the ``Dispatcher``; ``durable=False`` (WAL,
  ``synchronous=NORMAL``: survives a killed process) and ``durable=True``
  (``synchronous=FULL``: also survives a power loss); and once more with the
  dispatcher on 3 and on 6 connections (``parallel=3``, ``parallel=6``), which
  matters where the server takes time to answer or needs CPU time of its own
  (``bench_postfix.py``);
- ``mailbill, one process, dispatcher in a thread``: the deployment of
  ``examples/select_and_send.py``, where ``Dispatcher.run_forever`` runs in a thread
  of the host's process and sends while the host prepares (``durable=False``). Both
  threads need the interpreter's lock, so this row shows what that costs.

Two more rows show the deployment the docs recommend, where the host prepares and a
dispatcher worker (``mailbill dispatch --forever``) sends, in two processes that
overlap; for a fair comparison Django gets two processes too, each sending half:

- ``Django, 2 processes``: two ``send_django`` children at once, one connection each;
- ``mailbill, 2 processes``: one child prepares into the SQLite outbox (``durable=False``)
  while another runs ``Dispatcher.run_forever`` on it (one connection; in the last row,
  three: ``parallel=3``).

Their wall time runs from the first child's start to the last one's end; their CPU
time is the sum of both children.

The machine these numbers come from is shared and noisy; ``--rounds N`` runs every
scenario N times, rotating their order each round, and reports each ratio as the
median of the ratios within each round (with their range).

Run: ``python benchmarks/bench_pipeline.py [--quick] [--count N] [--rounds N] [--only a,b]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Steal, emit, machine, measure, run_child, run_together, table, wait_for_go
from _sink import Sink

SCENARIOS = {
    "prebuilt": "smtplib pre-built bytes",
    "transport": "mailbill SMTPTransport, pre-built message",
    "stdlib": "stdlib EmailMessage + jinja2 + babel",
    "django": "Django EmailMultiAlternatives + SMTP backend",
    "mailbill": "mailbill pipeline, durable=False",
    "mailbill-durable": "mailbill pipeline, durable=True",
    "mailbill-p3": "mailbill pipeline, durable=False, 3 connections",
    "mailbill-p6": "mailbill pipeline, durable=False, 6 connections",
    "mailbill-thread": "mailbill, one process, dispatcher in a thread",
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
    if scenario == "mailbill-thread":
        inv.send_mailbill_threaded(host, port, warm, pdf)
        emit(measure(lambda: inv.send_mailbill_threaded(host, port, count, pdf)))
        return
    if scenario.startswith("mailbill"):
        durable = scenario == "mailbill-durable"
        parallel = {"mailbill-p3": 3, "mailbill-p6": 6}.get(scenario, 1)
        inv.send_mailbill(host, port, warm, pdf, durable=durable, parallel=parallel)
        emit(measure(lambda: inv.send_mailbill(host, port, count, pdf, durable=durable, parallel=parallel)))
        return
    send = {
        "prebuilt": inv.send_prebuilt,
        "transport": inv.send_transport_prebuilt,
        "stdlib": inv.send_stdlib,
        "django": inv.send_django,
    }[scenario]
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


def _rate(result: dict[str, Any]) -> float:
    return float(result["messages"] / result["wall"])


def _spread(values: list[float]) -> str:
    """The median of per-round ratios, with their range when there was more than one round."""
    middle = f"{statistics.median(values):.2f}x"
    return middle if len(values) == 1 else f"{middle} ({min(values):.2f}-{max(values):.2f})"


def report(
    rounds: list[dict[str, dict[str, Any]]],
    count: int,
    *,
    have_django: bool,
    extra: tuple[str, Callable[[dict[str, Any]], str]] | None = None,
) -> None:
    """Print the table (with an ``extra`` column: header and cell maker) and the notes under it.

    ``rounds`` holds one result per scenario for each round. A row shows the
    scenario's median round (by messages per second); its ratios are the medians
    of the ratios within each round, against the baseline measured in that round,
    with their range.
    """
    rows = []
    median: dict[str, dict[str, Any]] = {}
    for name in rounds[0]:
        runs = sorted((r[name] for r in rounds), key=_rate)
        median[name] = r = runs[(len(runs) - 1) // 2]
        vs_smtplib = [_rate(x[name]) / _rate(x["prebuilt"]) for x in rounds]
        vs_django = [_rate(x[name]) / _rate(x["django"]) for x in rounds] if "django" in rounds[0] else None
        rows.append([
            SCENARIOS[name],
            f"{_rate(r):,.0f}",
            f"{r['cpu'] / r['messages'] * 1000:.2f}",
            f"{r['peak_mb']:.0f}",
            _spread(vs_smtplib),
            _spread(vs_django) if vs_django else "-",
            *([extra[1](r)] if extra else []),
        ])  # fmt: skip
    headers = ["client", "msgs/s", "CPU ms/msg", "peak RSS MB", "vs smtplib", "vs Django"]
    print(table([*headers, extra[0]] if extra else headers, rows))
    if len(rounds) > 1:
        print(f"{len(rounds)} rounds, the order rotated each round; ratios: median (range) of the rounds'")
    if not have_django:
        print("Django: skipped (not installed; MAILBILL_BENCH_EXTRA=django nox -s bench adds it)")
    if "django-2" in median and "mailbill-2" in median:
        two = [_rate(x["mailbill-2"]) / _rate(x["django-2"]) for x in rounds]
        print(f"two processes each: mailbill {_spread(two)} Django")
    for name in ("mailbill", "mailbill-durable", "mailbill-p3", "mailbill-p6"):
        if name in median:
            r = median[name]
            print(
                f"{SCENARIOS[name]}: prepare (render + compose + outbox add) "
                f"{r['prepare'] / count * 1000:.2f} ms/msg, "
                f"dispatch (claim + send + mark sent) {r['dispatch'] / count * 1000:.2f} ms/msg"
            )
    for name in ("mailbill-thread",):
        if name in median:
            r = median[name]
            print(
                f"{SCENARIOS[name]}: all added after {r['prepare'] / count * 1000:.2f} ms/msg, "
                f"all sent {r['dispatch'] / count * 1000:.2f} ms/msg later"
            )


def add_round_options(parser: argparse.ArgumentParser) -> None:
    """``--rounds`` and ``--only``, which ``bench_postfix.py`` takes too."""
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every scenario this many times, interleaved (default 1)"
    )
    parser.add_argument(
        "--only", help=f"scenarios besides prebuilt and django, comma-separated: {', '.join(SCENARIOS)}"
    )


def chosen(parser: argparse.ArgumentParser, only: str | None, *, have_django: bool) -> list[str]:
    """The scenarios to run: all (Django's only where installed), or the two baselines and ``only``."""
    names = [n for n in SCENARIOS if have_django or not n.startswith("django")]
    if only:
        wanted = {"prebuilt", "django", *only.split(",")}
        if unknown := wanted - set(SCENARIOS):
            parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        names = [n for n in names if n in wanted]
    return names


def in_rounds(
    names: list[str], rounds: int, run: Callable[[str], dict[str, Any]]
) -> list[dict[str, dict[str, Any]]]:
    """Run every scenario ``rounds`` times; each round's results, by scenario, in ``names`` order.

    The order rotates each round, so that no scenario always runs just after the same one.
    """
    results = []
    for number in range(rounds):
        shift = number % len(names)
        done = {name: run(name) for name in names[shift:] + names[:shift]}
        results.append({name: done[name] for name in names})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (300 a client)")
    parser.add_argument("--count", type=int, help="messages a client (default 1000)")
    add_round_options(parser)
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
    names = chosen(parser, args.only, have_django=have_django)
    steal = Steal()
    with Sink() as sink:
        print(f"bench_pipeline: {count} invoices a client; {machine()}")
        print(f"sink: {sink.describe()}; one connection a client, one process a client")

        def run(name: str) -> dict[str, Any]:
            before = sink.received()
            result, expected = run_scenario(name, sink.port, count)
            received = sink.received() - before
            assert received == expected, (name, received, expected)
            return result

        rounds = in_rounds(names, args.rounds, run)

    report(rounds, count, have_django=have_django)
    print(steal.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
