"""Scale: prepare and dispatch many invoices; memory must stay flat and so must the time per document.

Prepare: render + compose + ``SQLiteOutbox.add_many`` in chunks of 500 documents.
Dispatch: one ``Dispatcher.run_once`` sends them all through ``SMTPTransport`` to a
loopback sink (no reply delay, no rate limit). Every document is the realistic
invoice of ``_invoice.py`` (about 50 KB with its PDF), so the outbox file grows to
about 5 GB for 100,000 documents (in a temporary directory, removed at the end).

Reported per block of 10 % of the documents: seconds to prepare, seconds to
dispatch, and the resident memory at the end of the block; then the peak resident
memory of the process and the last block's time against the first block's.

Run: ``python benchmarks/bench_scale.py [--quick | --full | --count N]``: 30,000 documents
by default (about 2 minutes, 2 GB of temporary disk), ``--quick`` 10,000, ``--full``
100,000 (about 6 minutes, 6 GB).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import _invoice as inv
from _harness import machine, table
from _sink import Sink

from mailbill import Dispatcher, DispatchEvent, SMTPTransport, SQLiteOutbox, Status

CHUNK = 500


def rss_mb() -> float:
    """The current resident memory of this process in MB."""
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """The peak resident memory of this process in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 documents")
    parser.add_argument("--full", action="store_true", help="100,000 documents")
    parser.add_argument("--count", type=int, help="documents (default 30,000)")
    args = parser.parse_args()
    count = args.count or (10_000 if args.quick else 100_000 if args.full else 30_000)
    block = max(CHUNK, count // 10 // CHUNK * CHUNK)  # a whole number of chunks
    pdf = inv.make_pdf()
    templates = inv.mailbill_templates()
    # after each block: (wall seconds since the phase began, CPU seconds since then, RSS MB)
    prepare_marks: list[tuple[float, float, float]] = []
    dispatch_marks: list[tuple[float, float, float]] = []

    with Sink() as sink, tempfile.TemporaryDirectory() as tmp:
        print(f"bench_scale: {count:,} invoices; {machine()}")
        print(f"sink: {sink.describe()}; outbox: SQLiteOutbox(durable=False) in a temporary directory")
        outbox = SQLiteOutbox(Path(tmp) / "outbox.sqlite3", durable=False)
        try:
            start, cpu = time.perf_counter(), time.process_time()
            for first in range(0, count, CHUNK):
                numbers = range(first, min(first + CHUNK, count))
                outbox.add_many(inv.mailbill_items(templates, iter(numbers), pdf))
                if numbers.stop % block == 0 or numbers.stop == count:
                    prepare_marks.append((time.perf_counter() - start, time.process_time() - cpu, rss_mb()))
            sent = 0
            dispatch_start, dispatch_cpu = time.perf_counter(), time.process_time()

            def on_event(event: DispatchEvent) -> None:
                nonlocal sent
                if event.new is Status.SENT:
                    sent += 1
                    if sent % block == 0 or sent == count:
                        dispatch_marks.append(
                            (
                                time.perf_counter() - dispatch_start,
                                time.process_time() - dispatch_cpu,
                                rss_mb(),
                            )
                        )

            def factory() -> SMTPTransport:
                return SMTPTransport(sink.host, port=sink.port, security="none", name="default")

            report = Dispatcher(outbox, {"default": factory}, on_event=on_event).run_once()
            assert report.sent == count, report
            size = (Path(tmp) / "outbox.sqlite3").stat().st_size
        finally:
            outbox.close()
        assert sink.received() == count

    def per_doc(marks: list[tuple[float, float, float]], i: int) -> list[float]:
        """Milliseconds per document in each block, from column ``i`` (0: wall, 1: CPU)."""
        return [(m[i] - (marks[n - 1][i] if n else 0.0)) / block * 1000 for n, m in enumerate(marks)]

    prep_wall, prep_cpu = per_doc(prepare_marks, 0), per_doc(prepare_marks, 1)
    disp_wall, disp_cpu = per_doc(dispatch_marks, 0), per_doc(dispatch_marks, 1)
    rows = []
    for n in range(len(prepare_marks)):
        docs = f"{n * block + 1:,}-{min((n + 1) * block, count):,}"
        rows.append([
            docs, f"{prep_wall[n]:.2f}", f"{prep_cpu[n]:.2f}", f"{prepare_marks[n][2]:.0f}",
            f"{disp_wall[n]:.2f}", f"{disp_cpu[n]:.2f}", f"{dispatch_marks[n][2]:.0f}",
        ])  # fmt: skip
    headers = ["documents", "prepare ms/doc", "CPU", "RSS MB", "dispatch ms/doc", "CPU", "RSS MB"]
    print(table(headers, rows))
    total = prepare_marks[-1][0] + dispatch_marks[-1][0]
    print(
        f"total {total:.0f} s ({count / total:,.0f} documents/s end to end); "
        f"outbox file {size / 2**30:.1f} GiB; peak RSS {peak_mb():.0f} MB (target < 150 MB)"
    )
    print(
        f"last block / first block, wall (CPU): prepare {prep_wall[-1] / prep_wall[0]:.2f}x "
        f"({prep_cpu[-1] / prep_cpu[0]:.2f}x), dispatch {disp_wall[-1] / disp_wall[0]:.2f}x "
        f"({disp_cpu[-1] / disp_cpu[0]:.2f}x); target: at most 1.20x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
