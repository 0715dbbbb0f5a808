"""The mapping of SMTP replies to mailbill errors, over the whole space of codes and texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailbill import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from mailbill.transports._smtp_errors import error_for_reply, parse_enhanced_status

enhanced = st.tuples(st.sampled_from("245"), st.integers(0, 999), st.integers(0, 999)).map(
    lambda t: f"{t[0]}.{t[1]}.{t[2]}"
)


@given(code=st.integers(400, 599), status=st.none() | enhanced, text=st.text(max_size=60))
def test_every_reply_maps_by_its_class(code: int, status: str | None, text: str) -> None:
    """This test ensures that 5xx is permanent, 4xx transient, 421/4.7.x rate limiting, details kept."""
    reply = f"{status} {text}" if status else text
    error = error_for_reply(code, reply, during="DATA")
    assert isinstance(error, DeliveryError)
    assert error.smtp_code == code
    assert error.server_text == reply
    if code >= 500:
        assert isinstance(error, PermanentDeliveryError)
    else:
        assert isinstance(error, TransientDeliveryError)
        limited = code == 421 or (error.enhanced_status or "").startswith("4.7.")
        assert isinstance(error, RateLimitedError) is limited
    if status is not None:
        assert error.enhanced_status == status


def test_enhanced_status_must_lead_the_text() -> None:
    """This test ensures that only a leading class.subject.detail is read as an enhanced status."""
    assert parse_enhanced_status("5.1.1 <x@example.com>: user unknown") == "5.1.1"
    assert parse_enhanced_status("  4.7.0 slow down") == "4.7.0"
    assert parse_enhanced_status("user unknown 5.1.1") is None
    assert parse_enhanced_status("5.1.1x nope") is None
    assert parse_enhanced_status("3.1.1 not a class") is None
    assert parse_enhanced_status("5.1.1") == "5.1.1"


def test_bytes_replies_are_decoded() -> None:
    """This test ensures that a server's bytes reply (smtplib's form) is decoded, bad bytes replaced."""
    error = error_for_reply(550, b"5.7.1 Zugriff verweigert \xff", during="RCPT TO")
    assert error.server_text == "5.7.1 Zugriff verweigert \ufffd"
    assert error.enhanced_status == "5.7.1"
