"""What to do after a failed send: try later, give up, print on paper, or stop the account.

The error's type decides (see :mod:`mailbill.errors`):

==============================  ==========================================================
Error                           Decision
==============================  ==========================================================
RateLimitedError                RELEASED again after ``retry_after`` (not counted); pause
                                the account
TransientDeliveryError          DEFERRED with exponential backoff and jitter, until
                                ``max_attempts`` or ``max_age``, then FAILED
RecipientsRefusedError          FAILED, or PAPER with ``refused_to_paper``; refused
                                addresses suppressed with ``suppress_refused``
PermanentDeliveryError          FAILED at once
AccountError (auth, TLS)        RELEASED again (not counted); stop using the account
DocumentError                   FAILED at once (the message cannot be built or carried)
ConfigurationError              raised to the host: fix the setup
anything else                   treated as transient (nothing is lost to a bug)
==============================  ==========================================================
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailbill.errors import (
    AccountError,
    ConfigurationError,
    DocumentError,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientsRefusedError,
)
from mailbill.outbox._model import OutboxItem, Status

__all__ = ["RetryDecision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What the dispatcher does with an item after an error.

    Attributes:
        status: DEFERRED, FAILED, PAPER, or RELEASED (given back untried).
        next_attempt_at: When to try again (DEFERRED, RELEASED).
        suppress: Addresses to add to the suppression list (hard bounces).
        pause_seconds: Pause the account this long (throttling), or ``None``.
        stop_account: Stop sending on this account for the rest of the run.
    """

    status: Status
    next_attempt_at: datetime | None = None
    suppress: tuple[str, ...] = ()
    pause_seconds: float | None = None
    stop_account: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry, and what a refused recipient means.

    Example:
        >>> policy = RetryPolicy(max_attempts=5, backoff_base=60, jitter=0)
        >>> [policy.delay(n) for n in (1, 2, 3)]
        [60.0, 120.0, 240.0]

    Attributes:
        max_attempts: Tries before a transient failure becomes FAILED.
        max_age: How long after release an item may still be retried.
        backoff_base: Seconds to wait after the first failure.
        backoff_factor: The wait grows by this factor per failure.
        backoff_max: The longest wait.
        jitter: Up to this fraction of the wait is taken off at random, so
            many deferred items do not come back at the same moment.
        suppress_refused: Add addresses refused with a 5xx reply to the suppression list.
        refused_to_paper: Make an item whose recipients were all refused PAPER, not FAILED.
        rate_limit_pause: Seconds to pause an account that throttles without saying how long.
        rng: Returns a float in [0, 1) (inject a seeded one in tests).
    """

    max_attempts: int = 8
    max_age: timedelta = timedelta(days=2)
    backoff_base: float = 60.0
    backoff_factor: float = 2.0
    backoff_max: float = 3600.0
    jitter: float = 0.2
    suppress_refused: bool = False
    refused_to_paper: bool = False
    rate_limit_pause: float = 60.0
    rng: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_factor < 1 or self.backoff_max < 0:
            raise ConfigurationError("RetryPolicy backoff needs base >= 0, factor >= 1, max >= 0")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("RetryPolicy.jitter must be between 0 and 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1-based), with jitter."""
        exponent = max(failures - 1, 0)
        try:
            base = min(self.backoff_base * self.backoff_factor**exponent, self.backoff_max)
        except OverflowError:
            base = self.backoff_max
        return base * (1 - self.jitter * self.rng())

    def decide(self, item: OutboxItem, error: BaseException, /, *, now: datetime) -> RetryDecision:
        """Decide what follows ``error`` for ``item`` (claimed, with its attempts so far).

        Raises:
            ConfigurationError: re-raised as is; the setup must be fixed.
        """
        if isinstance(error, ConfigurationError):
            raise error
        if isinstance(error, RateLimitedError):
            pause = error.retry_after if error.retry_after is not None else self.rate_limit_pause
            return RetryDecision(Status.RELEASED, now + timedelta(seconds=pause), pause_seconds=pause)
        if isinstance(error, AccountError):
            return RetryDecision(Status.RELEASED, now, stop_account=True)
        if isinstance(error, RecipientsRefusedError):
            suppress = (
                tuple(r.address for r in error.refused if 500 <= r.code < 600)
                if self.suppress_refused
                else ()
            )
            status = Status.PAPER if self.refused_to_paper else Status.FAILED
            return RetryDecision(status, suppress=suppress)
        if isinstance(error, PermanentDeliveryError | DocumentError):
            return RetryDecision(Status.FAILED)
        # transient, or an unexpected exception from a transport: retry within limits
        failures = item.attempt_count + 1
        too_old = now - item.retry_since >= self.max_age
        if failures >= self.max_attempts or too_old:
            return RetryDecision(Status.FAILED)
        return RetryDecision(Status.DEFERRED, now + timedelta(seconds=self.delay(failures)))
