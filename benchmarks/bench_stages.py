"""CPU time per message of each stage of mailbill's pipeline, one stage at a time.

Every stage runs over all invoices before the next starts (``time.process_time``,
one process), so each number is that stage's own cost: rendering, the PDF
check, building and composing the message, the SQLite outbox (add, claim, mark
sent: half of the items one by one, half 20 at a time), reading the stored item
back, and sending it to the loopback sink (``_sink.py``, PIPELINING offered).
The render of the same templates with plain jinja2 and babel is given for
comparison.

With ``--instructions`` each stage is also counted by valgrind's callgrind
(instructions a message, 200 invoices unless ``--count`` says otherwise): the
script runs once more under callgrind for each stage, with counting switched
on (``callgrind_control -i on``) for that stage only, and exits when it ends.
Unlike CPU time, the count does not move with the noise of a shared machine,
so it shows where a change took instructions off, stage by stage.

Run: ``python benchmarks/bench_stages.py [--quick] [--count N] [--durable] [--instructions]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import _invoice as inv
from _harness import callgrind, have_callgrind, machine, start_counting, table
from _sink import Sink

#: The stages, in the order they run (``--count-stage N`` counts the N-th under callgrind).
STAGES = (
    "render with Templates (sandboxed Jinja + babel)",
    "the same templates with plain jinja2 + babel",
    "Attachment (the PDF is checked with pypdf)",
    "OutgoingMessage",
    "compose (as_bytes)",
    "stored item (NewItem.from_message)",
    "outbox add_many (100 at a time)",
    "outbox claim (20 at a time)",
    "read back (headers only)",
    "SMTPTransport.send (pipelined)",
    "outbox mark_sent (one commit each)",
    "outbox mark_sent_many (20 at a time)",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (300)")
    parser.add_argument("--count", type=int, help="messages (default 1000)")
    parser.add_argument("--durable", action="store_true", help="SQLiteOutbox(durable=True)")
    parser.add_argument(
        "--instructions", action="store_true", help="also count each stage's instructions (needs valgrind)"
    )
    parser.add_argument("--count-stage", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (300 if args.quick else 1000)
    if args.count_stage is not None:
        run_stages(count, args.durable, counted=args.count_stage)
        return 0
    times = run_stages(count, args.durable)
    print(f"bench_stages: {count} invoices, SQLiteOutbox(durable={args.durable}); {machine()}")
    headers = ["stage", "CPU ms/message"]
    rows = [[name, f"{ms:.2f}"] for name, ms in times.items()]
    if args.instructions:
        if not have_callgrind():
            print("instructions: skipped: valgrind (callgrind) is not installed")
        else:
            n = args.count or (50 if args.quick else 200)
            print(f"instructions: {n} invoices under callgrind, each stage counted on its own")
            headers.append("M instructions/message")
            for number, row in enumerate(rows):
                row.append(f"{count_stage(number, n, args.durable) / 1e6:.2f}")
    print(table(headers, rows))
    return 0


def count_stage(number: int, count: int, durable: bool) -> float:
    """Instructions a message of stage ``number``: this script run under callgrind, counting that stage."""
    args = ["--count", str(count), "--count-stage", str(number), *(["--durable"] if durable else [])]
    total = callgrind("bench_stages.py", args, f"stage {STAGES[number]!r}")
    return total / messages_in(STAGES[number], count)


def messages_in(stage: str, count: int) -> int:
    """How many of the ``count`` messages ``stage`` handles: each mark-sent stage takes half."""
    half = count // 2  # mark_sent takes the first half of the items, mark_sent_many the rest
    return {
        "outbox mark_sent (one commit each)": half,
        "outbox mark_sent_many (20 at a time)": count - half,
    }.get(stage, count)


def run_stages(count: int, durable: bool, *, counted: int | None = None) -> dict[str, float]:
    """Run every stage over ``count`` invoices; return each one's CPU ms a message.

    With ``counted``, callgrind counts that stage only, and the process exits when it ends.
    """
    from mailbill import Address, Attachment, NewItem, OutgoingMessage, SMTPTransport, SQLiteOutbox, Status
    from mailbill._rebuild import message_from_item

    pdf = inv.make_pdf()
    templates = inv.mailbill_templates()
    plain = inv.PlainRenderer()
    records = [inv.record(n) for n in range(count)]
    sender = Address(inv.SENDER, inv.SENDER_NAME)
    times: dict[str, float] = {}

    def stage(name: str, work: Callable[[Any], Any], inputs: Iterable[Any]) -> list[Any]:
        number = len(times)
        assert STAGES[number] == name, (number, name)
        if number == counted:
            start_counting()
        start = time.process_time()
        out = [work(x) for x in inputs]
        times[name] = (time.process_time() - start) / messages_in(name, count) * 1e3
        if number == counted:
            sys.stdout.flush()
            os._exit(0)  # nothing after the stage is counted
        return out

    def language(r: dict[str, Any]) -> str:
        return str(r["locale"]).replace("_", "-")

    for r in records[:30]:  # warm-up: compile the templates, load the locales
        templates.render("invoice", language(r), r)
        plain.render(r)
    rendered = stage(
        "render with Templates (sandboxed Jinja + babel)",
        lambda r: templates.render("invoice", language(r), r),
        records,
    )
    stage("the same templates with plain jinja2 + babel", plain.render, records)
    attachments = stage(
        "Attachment (the PDF is checked with pypdf)",
        lambda r: Attachment(f"Rechnung_{r['number']}_{r['customer']}.pdf", pdf, "application/pdf"),
        records,
    )
    messages = stage(
        "OutgoingMessage",
        lambda n: OutgoingMessage(
            sender=sender,
            to=(Address(records[n]["email"], records[n]["customer"]),),
            subject=rendered[n].subject,
            text=rendered[n].text,
            html=rendered[n].html,
            attachments=(attachments[n],),
            business_key=f"invoice/{records[n]['number']}",
        ),
        range(count),
    )
    stage("compose (as_bytes)", lambda m: m.as_bytes(), messages)
    items = stage(
        "stored item (NewItem.from_message)",
        lambda m: NewItem.from_message(m, kind="invoice", status=Status.RELEASED),
        messages,
    )
    with tempfile.TemporaryDirectory() as tmp, Sink() as sink:
        outbox = SQLiteOutbox(Path(tmp) / "outbox.sqlite3", durable=durable)
        try:
            stage("outbox add_many (100 at a time)", lambda s: outbox.add_many(items[s : s + 100]),
                  range(0, count, 100))  # fmt: skip
            batches = stage("outbox claim (20 at a time)", lambda _: outbox.claim(20, lease_seconds=60),
                            range(0, count, 20))  # fmt: skip
            claimed = [item for batch in batches for item in batch]
            back = stage("read back (headers only)", lambda i: message_from_item(i, bodies=False), claimed)
            transport = SMTPTransport("127.0.0.1", port=sink.port, security="none")
            try:
                receipts = stage("SMTPTransport.send (pipelined)", transport.send, back)
            finally:
                transport.close()
            pairs = [(item.id, receipt) for item, receipt in zip(claimed, receipts, strict=True)]
            half = messages_in("outbox mark_sent (one commit each)", count)
            stage("outbox mark_sent (one commit each)", lambda pair: outbox.mark_sent(*pair), pairs[:half])
            stage("outbox mark_sent_many (20 at a time)", outbox.mark_sent_many,
                  [pairs[s : s + 20] for s in range(half, count, 20)])  # fmt: skip
        finally:
            outbox.close()
    return times


if __name__ == "__main__":
    raise SystemExit(main())
