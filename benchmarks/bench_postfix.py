"""Into a local Postfix: mailbill's whole pipeline against smtplib, the stdlib loop and Django, in one run.

The same clients as ``bench_pipeline.py`` (run as its children), each in its own process, each sending the
same realistic invoice (``_invoice.py``) over one connection, but to a real Postfix on
this machine instead of the do-nothing sink: Postfix parses every command, writes and
fsyncs a queue file per message and hands it to its ``discard`` transport, so the
server's cost is a real mail server's cost, and it shares the CPUs with the client.

- ``smtplib pre-built bytes``: the ceiling for a Python smtplib client (the baseline);
- ``stdlib EmailMessage``: jinja2 + babel + ``EmailMessage(policy=default)`` + smtplib;
- ``Django``: the same rendering + ``EmailMultiAlternatives`` + Django's SMTP backend
  (only when ``import django`` works; install it with ``MAILBILL_BENCH_EXTRA=django``);
- ``mailbill``: ``Templates.render`` + compose + ``SQLiteOutbox`` (add, claim, mark sent)
  + ``SMTPTransport`` through the ``Dispatcher``, ``durable=False`` and ``durable=True``;
- ``Django, 2 processes`` and ``mailbill, 2 processes (prepare | dispatch)``: the
  two-process deployment of ``bench_pipeline.py`` (whose children run them), into Postfix.

Between clients it waits until Postfix has delivered (discarded) everything, so one
client's queue does not load the next, and counts the deliveries in Postfix's log when
it can read it (``maillog_file``). When Postfix runs on this machine it also reports
Postfix's CPU time per message: the user + system time of its master process, of the
children it has reaped (``cutime``/``cstime``: daemons exit after ``max_use`` requests)
and of its live children (smtpd, cleanup, qmgr, trivial-rewrite, discard, postlogd...),
from ``/proc``, before and after each client, divided by the messages the client sent
(warm-up included). It is exact but for a daemon reaped between the two reads of one
snapshot (a rare, small error).

Set Postfix up first (Debian, as root): ``bash benchmarks/postfix_setup.sh`` (loopback
only, port 2525, every message discarded). Without a Postfix the script says so and
exits 0, so ``nox -s bench`` runs everywhere.

The machine these numbers come from is shared and noisy, and Postfix's own cost
varies with how fast mail arrives: ``--rounds N`` runs every client N times, rotating
their order each round, and reports each ratio as the median of the ratios within
each round (with their range), as ``bench_pipeline.py`` does; ``--only`` picks the
clients besides the two baselines.

Run: ``python benchmarks/bench_postfix.py [--quick] [--count N] [--rounds N] [--only a,b]
[--host H] [--port P]`` (or ``MAILBILL_BENCH_POSTFIX=host:port``; default 127.0.0.1:2525).
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_pipeline
from _harness import Steal, machine

SCENARIOS = bench_pipeline.SCENARIOS
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525
ENV = "MAILBILL_BENCH_POSTFIX"
DRAIN_TIMEOUT = 300.0  # seconds to wait for Postfix to empty its queue after a client


# -- the server -------------------------------------------------------------------------------------


def greeting(host: str, port: int) -> str | None:
    """The server's 220 greeting, or None when nothing (or no SMTP server) answers there."""
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.settimeout(5)
            reader = conn.makefile("rb")
            line = reader.readline().decode("ascii", "replace").strip()
            conn.sendall(b"QUIT\r\n")  # politely: no "lost connection" in the server's log
            reader.readline()
    except OSError:
        return None
    return line if line.startswith("220") else None


def _postfix_command(name: str, *args: str) -> str | None:
    """Output of a local Postfix command (``postconf``, ``postqueue``), or None if it cannot run."""
    exe = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/usr/local/sbin") if (p := Path(d) / name).exists()), None
    )
    if exe is None:
        return None
    done = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


class LocalPostfix:
    """What can be observed of a Postfix on this machine: its CPU time, its queue, its log."""

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK")
        log = (_postfix_command("postconf", "-h", "maillog_file") or "").strip()
        self.log = Path(log) if log and os.access(log, os.R_OK) else None
        self.masters = self._masters()

    @staticmethod
    def _stat(pid: int | str) -> list[str] | None:
        """Fields of ``/proc/<pid>/stat`` from the state on (index 0 is field 3), or None if gone."""
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2 :].split()

    @staticmethod
    def _masters() -> list[int]:
        """PIDs of Postfix master processes (more than one with postmulti)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                comm = (entry / "comm").read_text().strip()
                argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if comm == "master" and "postfix" in argv0:
                found.append(int(entry.name))
        return found

    def cpu(self) -> float | None:
        """Seconds of CPU used so far by Postfix (masters, reaped children, live children)."""
        if not self.masters:
            return None
        masters = set(self.masters)
        ticks = 0
        # Children first, then the masters: a child reaped in between is counted twice (rare, small).
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) not in masters:
                fields = self._stat(entry.name)
                if fields is not None and int(fields[1]) in masters:
                    ticks += int(fields[11]) + int(fields[12])  # utime, stime
        for pid in masters:
            fields = self._stat(pid)
            if fields is None:
                return None  # Postfix was stopped
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return ticks / self.tick

    def log_offset(self) -> int:
        """The log's current size (deliveries after this point are the next client's)."""
        return self.log.stat().st_size if self.log else 0

    def deliveries(self, offset: int) -> tuple[int, int]:
        """Messages removed from the queue and non-``sent`` delivery statuses logged since ``offset``."""
        assert self.log is not None
        with self.log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        removed = len(re.findall(r"postfix[^:]*/qmgr\[\d+\]: \w+: removed$", text, re.MULTILINE))
        failed = len(re.findall(r" status=(?!sent\b)", text))
        return removed, failed

    def queue_empty(self) -> bool | None:
        """Whether the queue is empty (``postqueue -j``), None if that cannot be asked."""
        out = _postfix_command("postqueue", "-j")
        return None if out is None else not out.strip()

    def drain(self, offset: int, expected: int) -> dict[str, Any]:
        """Wait until ``expected`` messages are delivered (or the queue is empty); say how it went."""
        start = time.perf_counter()
        removed = failed = -1
        while time.perf_counter() - start < DRAIN_TIMEOUT:
            if self.log is not None:
                removed, failed = self.deliveries(offset)
                done = removed >= expected
            else:
                done = self.queue_empty() is not False
            if done:
                break
            time.sleep(0.05)
        return {
            "drain": time.perf_counter() - start,
            "removed": removed,
            "failed": failed,
            "empty": self.queue_empty(),
        }


# -- the run ----------------------------------------------------------------------------------------


def target(args: argparse.Namespace) -> tuple[str, int]:
    """Host and port: the options, else ``MAILBILL_BENCH_POSTFIX=host:port``, else 127.0.0.1:2525."""
    env_host, _, env_port = os.environ.get(ENV, "").rpartition(":")
    host = args.host or env_host or DEFAULT_HOST
    port = args.port or (int(env_port) if env_port else DEFAULT_PORT)
    return host, port


def is_local(host: str) -> bool:
    """Whether ``host`` is this machine (a loopback address or name)."""
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def run_client(name: str, host: str, port: int, count: int, postfix: LocalPostfix | None) -> dict[str, Any]:
    """Run one client (a child of ``bench_pipeline.py``, pointed at Postfix); wait for Postfix to drain."""
    offset = postfix.log_offset() if postfix else 0
    cpu_before = postfix.cpu() if postfix else None
    result, expected = bench_pipeline.run_scenario(name, port, count, host=host)
    result["sent"] = expected
    if postfix is None:
        return result
    result.update(postfix.drain(offset, expected))
    cpu_after = postfix.cpu()
    if cpu_before is not None and cpu_after is not None:
        result["server_cpu"] = cpu_after - cpu_before
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (300 a client)")
    parser.add_argument("--count", type=int, help="messages a client (default 1000)")
    bench_pipeline.add_round_options(parser)
    parser.add_argument("--host", help=f"Postfix host (default: ${ENV} or {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"Postfix port (default: ${ENV} or {DEFAULT_PORT})")
    args = parser.parse_args()
    count = args.count or (300 if args.quick else 1000)
    host, port = target(args)
    banner = greeting(host, port)
    if banner is None:
        print(
            f"bench_postfix: skipped: no Postfix at {host}:{port} (run benchmarks/postfix_setup.sh as root)"
        )
        return 0
    postfix = LocalPostfix() if is_local(host) else None
    have_django = importlib.util.find_spec("django") is not None
    print(f"bench_postfix: {count} invoices a client; {machine()}")
    print(f"server: {host}:{port} ({banner}); one connection a client, one process a client")
    if postfix is None or not postfix.masters:
        print("Postfix CPU: not measured (no Postfix master process on this machine)")
    if postfix is None or postfix.log is None:
        print("deliveries: not counted (Postfix's maillog_file is not set or not readable)")

    names = bench_pipeline.chosen(parser, args.only, have_django=have_django)
    steal = Steal()
    rounds = bench_pipeline.in_rounds(
        names, args.rounds, lambda name: run_client(name, host, port, count, postfix)
    )

    every = [(n, r) for results in rounds for n, r in results.items()]
    server = all("server_cpu" in r for _, r in every)
    column = ("Postfix CPU ms/msg", lambda r: f"{r['server_cpu'] / r['sent'] * 1000:.2f}")
    bench_pipeline.report(rounds, count, have_django=have_django, extra=column if server else None)
    print(steal.describe())
    if postfix is not None:
        bad = [
            (n, r)
            for n, r in every
            if r["empty"] is False or r["failed"] > 0 or (postfix.log and r["removed"] < r["sent"])
        ]
        drained = max(r["drain"] for _, r in every)
        if postfix.log and not bad:
            print(
                "Postfix: every message of every client (warm-up included) delivered to discard, "
                f"queue empty at most {drained:.1f} s after a client ended"
            )
        for name, r in bad if postfix.log else every:
            got = (
                f"{r['removed']}/{r['sent']} delivered, {r['failed']} not sent"
                if postfix.log
                else "not counted"
            )
            queue = {True: "queue empty", False: "queue NOT empty", None: "queue not checked"}[r["empty"]]
            print(f"Postfix, {SCENARIOS[name]}: {got}, {queue} {r['drain']:.1f} s after the client ended")
        if bad:
            names_bad = ", ".join(sorted({n for n, _ in bad}))
            print(f"bench_postfix: Postfix did not deliver everything for {names_bad}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
