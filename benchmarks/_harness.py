"""Shared plumbing of the benchmark scripts: one child process per scenario, and the report table.

Each scenario runs in a fresh Python process so that its peak memory
(``ru_maxrss``) and its CPU time (``time.process_time``) are its own; the sink is
yet another process. The child prints one JSON line that the parent collects.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def measure(work: Callable[[], dict[str, float] | None]) -> dict[str, Any]:
    """Run ``work`` once and return wall seconds, CPU seconds, peak RSS (MB) and what it returned."""
    cpu = time.process_time()
    start = time.monotonic()  # one clock for every process: concurrent children compare starts and ends
    wall = time.perf_counter()
    extra = work() or {}
    wall = time.perf_counter() - wall
    end = time.monotonic()
    cpu = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"wall": wall, "cpu": cpu, "peak_mb": peak_mb, "start": start, "end": end, **extra}


def emit(result: dict[str, Any]) -> None:
    """Print the child's result as the last line of its output."""
    print(json.dumps(result), flush=True)


def run_child(script: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``script`` (in this folder) with ``args`` in a new interpreter; return its JSON result."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise RuntimeError(f"{script} {' '.join(args)} failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_together(script: str, argvs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Run several children of ``script`` at once; combine them as one client.

    Each child prints ``ready`` when it has imported and set up, then waits for a
    line on stdin, so that none of them is timed while another is still starting.
    The combined wall time runs from the first start to the last end; CPU time
    is the sum and peak memory the largest.
    """
    children = [
        subprocess.Popen(
            [sys.executable, str(HERE / script), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for argv in argvs
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{script}: a child did not start")
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
    results = []
    for child in children:
        assert child.stdout is not None
        out = child.stdout.read()
        child.stdout.close()
        if child.wait() != 0:
            raise RuntimeError(f"{script}: a child failed with exit code {child.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    return {
        "wall": end - start,
        "cpu": sum(r["cpu"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
        "start": start,
        "end": end,
    }


def have_callgrind() -> bool:
    """Whether valgrind's callgrind (and ``callgrind_control``) can be run here."""
    import shutil

    return bool(shutil.which("valgrind") and shutil.which("callgrind_control"))


def start_counting() -> None:
    """In a script run by :func:`callgrind`: switch counting on from here."""
    import os

    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)


def callgrind(script: str, args: Sequence[str], what: str) -> int:
    """Run ``script`` (in this folder) with ``args`` under callgrind; return the instructions counted.

    The script switches counting on itself (``callgrind_control -i on``) where
    the work to count starts, and exits where it ends; ``what`` names the run in
    the error raised when it fails.
    """
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/out",
             sys.executable, str(HERE / script), *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.stderr.write(done.stdout + done.stderr[-4000:])
        raise RuntimeError(f"{what} failed under valgrind (exit code {done.returncode})")
    return int(found.group(1))


def wait_for_go() -> None:
    """In a child of :func:`run_together`: say ``ready``, then wait for the start signal."""
    print("ready", flush=True)
    sys.stdin.readline()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A compact, aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> str:
    """One line describing the machine and interpreter."""
    import os
    import platform

    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}"
    )


class Steal:
    """The share of CPU time the hypervisor gave to other guests while a run went on (Linux).

    On a shared virtual machine the same work can take twice as long from one
    minute to the next; ``steal`` in ``/proc/stat`` is the time this machine's
    CPUs were ready to run but another guest had them. A report that says how
    much was stolen tells a reader how far to trust its ratios.

    Example:
        >>> steal = Steal()  # doctest: +SKIP
        >>> ...  # the run
        >>> print(steal.describe())  # doctest: +SKIP
        CPU steal during the run: 0.4 % (...)
    """

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        """``(steal, total)`` ticks of all CPUs so far, or None where ``/proc/stat`` has no steal field."""
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if fields[0] != "cpu" or len(fields) < 9:
            return None
        # user nice system idle iowait irq softirq steal [guest guest_nice: already in user, nice]
        ticks = [int(f) for f in fields[1:9]]
        return ticks[7], sum(ticks)

    def percent(self) -> float | None:
        """Stolen ticks as a percentage of all ticks since this object was made (None if unknown)."""
        end = self._read()
        if self._start is None or end is None or end[1] == self._start[1]:
            return None
        return 100 * (end[0] - self._start[0]) / (end[1] - self._start[1])

    def describe(self) -> str:
        """One line for the report."""
        share = self.percent()
        if share is None:
            return "CPU steal during the run: not known (no steal field in /proc/stat)"
        note = "; above a few percent, expect the ratios of the rounds to spread" if share >= 3 else ""
        return (
            f"CPU steal during the run: {share:.1f} % (time the hypervisor gave these CPUs "
            f"to other guests{note})"
        )
