"""What a dispatcher reports: one event per status change, and a report per run."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from mailbill.outbox._model import Status

__all__ = ["DispatchEvent", "DispatchFailure", "DispatchReport"]


@dataclass(frozen=True, slots=True)
class DispatchEvent:
    """One status change made by the dispatcher (for progress bars and host logs).

    Attributes:
        item_id: The outbox item.
        key: Its business key.
        old: The status before.
        new: The status after.
        detail: The server's reply or the error, for a person.
        transport: The transport (account) name.
    """

    item_id: int
    key: str
    old: Status
    new: Status
    detail: str = ""
    transport: str = ""


@dataclass(frozen=True, slots=True)
class DispatchFailure:
    """An item that ended FAILED or PAPER in a run, with why.

    Attributes:
        item_id: The outbox item.
        key: Its business key.
        status: FAILED or PAPER.
        reason: The server's reply or the error.
    """

    item_id: int
    key: str
    status: Status
    reason: str


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one :meth:`Dispatcher.run_once` did.

    Attributes:
        counts: How many items reached each status in this run (SENDING counts claims).
        failures: Items that ended FAILED or PAPER, with reasons.
        stopped_accounts: Accounts that stopped (authentication, TLS), with the error.
        recovered: Items taken back from expired leases at the start of the run.
    """

    counts: Mapping[Status, int] = field(default_factory=dict)
    failures: tuple[DispatchFailure, ...] = ()
    stopped_accounts: Mapping[str, str] = field(default_factory=dict)
    recovered: int = 0

    @property
    def sent(self) -> int:
        """Items sent or handed off in this run."""
        return self.counts.get(Status.SENT, 0) + self.counts.get(Status.HANDED_OFF, 0)

    def summary(self) -> str:
        """One line for a log or a command line: ``"sent 12, deferred 1, failed 1, paper 0"``."""
        parts = [f"sent {self.sent}"]
        for status in (Status.DEFERRED, Status.FAILED, Status.PAPER, Status.RELEASED):
            if self.counts.get(status):
                label = "given back" if status is Status.RELEASED else status.value
                parts.append(f"{label} {self.counts[status]}")
        if self.recovered:
            parts.append(f"recovered {self.recovered}")
        for account, reason in self.stopped_accounts.items():
            parts.append(f"account {account} stopped: {reason}")
        return ", ".join(parts)


class _Run:
    """The mutable state of one run, shared by its worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[Status] = Counter()
        self.failures: list[DispatchFailure] = []
        self.stopped: dict[str, str] = {}
        self.error: BaseException | None = None
        #: Held while a worker claims and counts itself in ``busy`` (or out of it).
        self.claiming = threading.Lock()
        #: Per account: the workers sending a claimed chunk right now.
        self.busy: Counter[str] = Counter()
