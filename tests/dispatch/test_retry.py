"""Retry decisions by error type, backoff and limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbill import (
    AuthenticationError,
    ConfigurationError,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientsRefusedError,
    RefusedRecipient,
    RetryPolicy,
    Status,
    TLSError,
    TransientDeliveryError,
)
from mailbill.errors import AttachmentError
from mailbill.outbox import Attempt, OutboxItem

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def item(failures: int = 0, *, age: timedelta = timedelta(0)) -> OutboxItem:
    attempts = tuple(Attempt(NOW, "smtp", Status.DEFERRED, smtp_code=451) for _ in range(failures))
    return OutboxItem(
        1, "k", 1, Status.SENDING, b"x", "a@example.com", ("b@example.com",), "<m@example.com>", "smtp",
        False, None, "", "", "{}", "", attempts, None, None, NOW - age, NOW - age,
    )  # fmt: skip


def test_backoff_grows_and_is_capped() -> None:
    """This test ensures that waits grow by the factor up to the maximum, without jitter."""
    policy = RetryPolicy(backoff_base=10, backoff_factor=3, backoff_max=100, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [10, 30, 90, 100, 100]
    assert policy.delay(10_000) == 100


def test_jitter_takes_off_up_to_its_fraction() -> None:
    """This test ensures that jitter shortens a wait by at most its fraction, using the injected rng."""
    assert RetryPolicy(backoff_base=100, jitter=0.5, rng=lambda: 1.0).delay(1) == 50
    assert RetryPolicy(backoff_base=100, jitter=0.5, rng=lambda: 0.0).delay(1) == 100


def test_transient_errors_are_deferred_then_failed() -> None:
    """This test ensures that a transient error defers with backoff until max_attempts, then fails."""
    policy = RetryPolicy(max_attempts=3, backoff_base=60, jitter=0)
    first = policy.decide(item(0), TransientDeliveryError("451"), now=NOW)
    assert first.status is Status.DEFERRED
    assert first.next_attempt_at == NOW + timedelta(seconds=60)
    assert policy.decide(item(1), TransientDeliveryError("451"), now=NOW).next_attempt_at == NOW + timedelta(
        seconds=120
    )
    assert policy.decide(item(2), TransientDeliveryError("451"), now=NOW).status is Status.FAILED


def test_too_old_items_fail() -> None:
    """This test ensures that an item retried past max_age fails instead of deferring."""
    policy = RetryPolicy(max_age=timedelta(hours=1))
    assert (
        policy.decide(item(1, age=timedelta(hours=2)), TransientDeliveryError("x"), now=NOW).status
        is Status.FAILED
    )


def test_unknown_errors_are_treated_as_transient() -> None:
    """This test ensures that an unexpected exception never loses the item: it is deferred."""
    assert RetryPolicy().decide(item(), OSError("boom"), now=NOW).status is Status.DEFERRED


def test_permanent_and_document_errors_fail_at_once() -> None:
    """This test ensures that 5xx and unbuildable documents fail on the first try."""
    policy = RetryPolicy()
    assert policy.decide(item(), PermanentDeliveryError("554"), now=NOW).status is Status.FAILED
    assert policy.decide(item(), AttachmentError("too big"), now=NOW).status is Status.FAILED


def test_refused_recipients_can_be_suppressed_and_printed() -> None:
    """This test ensures that refused addresses are suppressed (5xx only) and the item is PAPER by option."""
    error = RecipientsRefusedError(
        "refused",
        refused=[
            RefusedRecipient("a@example.com", 550, "unknown"),
            RefusedRecipient("b@example.com", 450, "busy"),
        ],
    )
    plain = RetryPolicy().decide(item(), error, now=NOW)
    assert plain.status is Status.FAILED
    assert plain.suppress == ()
    strict = RetryPolicy(suppress_refused=True, refused_to_paper=True).decide(item(), error, now=NOW)
    assert strict.status is Status.PAPER
    assert strict.suppress == ("a@example.com",)


def test_account_errors_never_fail_items() -> None:
    """This test ensures that authentication and TLS errors give the item back and stop the account."""
    for error in (AuthenticationError("535"), TLSError("bad cert")):
        decision = RetryPolicy().decide(item(7), error, now=NOW)
        assert decision.status is Status.RELEASED
        assert decision.stop_account


def test_rate_limited_pauses_without_counting() -> None:
    """This test ensures that throttling gives the item back after retry_after and pauses the account."""
    decision = RetryPolicy().decide(item(7), RateLimitedError("421 slow down", retry_after=90), now=NOW)
    assert decision.status is Status.RELEASED
    assert decision.pause_seconds == 90
    assert decision.next_attempt_at == NOW + timedelta(seconds=90)


def test_configuration_errors_are_raised() -> None:
    """This test ensures that a configuration error goes to the host, not into the item."""
    with pytest.raises(ConfigurationError):
        RetryPolicy().decide(item(), ConfigurationError("no host"), now=NOW)


def test_bad_policies_are_refused() -> None:
    """This test ensures that impossible settings raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(jitter=2)
