"""The default ``BaseTransport.send_many``: every message through ``send``, errors as results."""

from __future__ import annotations

import pytest
from transport_support import make_message

from mailbill import BaseTransport, OutgoingMessage, SendReceipt, SendResult, TransientDeliveryError


class Picky(BaseTransport):
    """Refuses the subject "busy" (transient) and is interrupted by the subject "stop"."""

    name = "picky"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        if message.subject == "busy":
            raise TransientDeliveryError("try later", smtp_code=451)
        if message.subject == "stop":
            raise KeyboardInterrupt
        self.sent.append(message.subject)
        return SendReceipt(message.message_id, self.name, message.recipients)


def test_an_error_is_a_result_and_the_next_message_still_goes() -> None:
    """This test ensures that a failed message is reported in its result and does not stop the rest."""
    messages = [make_message(subject=s) for s in ("one", "busy", "two")]
    transport = Picky()
    results = list(transport.send_many(messages))
    assert [r.message for r in results] == messages
    assert isinstance(results[1].error, TransientDeliveryError)
    assert results[1].receipt is None
    assert [r.receipt is not None for r in results] == [True, False, True]
    assert transport.sent == ["one", "two"]


def test_an_exception_that_is_no_error_propagates() -> None:
    """This test ensures that KeyboardInterrupt and the like are not turned into results."""
    transport = Picky()
    results = transport.send_many([make_message(subject="one"), make_message(subject="stop")])
    assert isinstance(next(results), SendResult)
    with pytest.raises(KeyboardInterrupt):
        next(results)
