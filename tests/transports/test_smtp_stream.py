"""SMTPTransport.send_many: the next envelope goes out before the previous message's reply.

Against the real aiosmtpd server of ``pipelining_server.py``. Each scenario
sends a sequence with ``send_many`` and compares every result with what
``send`` gives for the same message one at a time (without pipelining, on a
fresh server), so the overlap changes the round trips and nothing else.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from types import NoneType
from typing import Any

import pytest
from transport_support import make_message

from mailbill import (
    Address,
    OutgoingMessage,
    PermanentDeliveryError,
    RecipientsRefusedError,
    SendResult,
    TransientDeliveryError,
)
from mailbill.errors import DeliveryError
from mailbill.transports.smtp import SMTPTransport
from pipelining_server import PipeliningServer
from smtp_server import DROP


def numbered(count: int) -> list[OutgoingMessage]:
    """``count`` messages to one recipient, told apart by their subject."""
    return [to("ok@example.com", f"message {n}") for n in range(count)]


def to(addresses: str, subject: str) -> OutgoingMessage:
    """A message to ``addresses`` (a comma-separated list) with ``subject``."""
    return make_message(subject=subject, to=Address.parse_list(addresses), cc=())


def transport_for(server: PipeliningServer, **options: Any) -> SMTPTransport:
    return SMTPTransport(server.host, port=server.port, security="none", timeout=5, **options)


def summary(result: SendResult) -> tuple[object, ...]:
    """A result in comparable form: the receipt's fields, or the error's type, text and code."""
    if result.error is not None:
        error = result.error
        code = error.smtp_code if isinstance(error, DeliveryError) else None
        return (type(error), str(error), code)
    assert result.receipt is not None
    receipt = result.receipt
    return (receipt.accepted, receipt.refused, receipt.reply_code, receipt.reply_text)


def one_by_one(messages: list[OutgoingMessage], **server_options: Any) -> list[tuple[object, ...]]:
    """What ``send`` gives for each message, step by step, on a fresh server."""
    with PipeliningServer(**server_options) as server, transport_for(server, pipelining=False) as transport:
        return [summary(result) for result in transport.send_many(messages)]


def subjects(server: PipeliningServer) -> list[str]:
    """The subjects of the messages the server accepted, in order."""
    parsed = (email.message_from_bytes(m.data, policy=email.policy.default) for m in server.messages)
    return [str(message["Subject"]) for message in parsed]


def test_one_round_trip_a_message_and_the_same_bytes() -> None:
    """This test ensures that each next envelope arrives before the reply to the previous message."""
    messages = numbered(4)
    with PipeliningServer(end_delay=0.05) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert [r.message for r in results] == messages
    assert all(r.receipt is not None and r.receipt.reply_code == 250 for r in results)
    assert [m.data for m in server.messages] == [m.as_bytes() for m in messages]
    assert server.connections == 1
    # While the server held back its reply to messages 0-2, the next envelope had arrived.
    for buffered in server.buffered_at_end[:3]:
        assert buffered.startswith(b"MAIL FROM:<billing@example.com>")
        assert buffered.endswith(b"RCPT TO:<ok@example.com>\r\nDATA\r\n")
    assert server.buffered_at_end[3] == b""  # nothing after the last one


def test_results_equal_sending_one_by_one() -> None:
    """This test ensures that refusals before and after the message map as send() maps them."""
    refusing = {
        "rcpt_replies": {"gone@example.com": "550 5.1.1 no such user", "busy@example.com": "450 4.2.1 busy"},
        "data_replies": ["554 5.6.0 content rejected"],
    }
    messages = [
        to("ok@example.com", "rejected content"),
        to("ok@example.com", "accepted"),
        to("ok@example.com, gone@example.com", "partly refused"),
        to("gone@example.com, busy@example.com", "all refused"),
        to("ok@example.com", "after"),
    ]
    with PipeliningServer(**refusing) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert [summary(r) for r in results] == one_by_one(messages, **refusing)
    errors = [type(r.error) for r in results]
    assert errors == [PermanentDeliveryError, NoneType, NoneType, TransientDeliveryError, NoneType]
    assert subjects(server) == ["accepted", "partly refused", "after"]
    assert server.connections == 1


def test_permanent_refusal_of_all_recipients_then_more() -> None:
    """This test ensures that an all-refused message in the middle leaves the next ones unharmed."""
    options = {"rcpt_replies": {"gone@example.com": "550 5.1.1 no such user"}}
    messages = [*numbered(1), to("gone@example.com", "refused"), *numbered(2)]
    with PipeliningServer(**options) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert isinstance(results[1].error, RecipientsRefusedError)
    assert [summary(r) for r in results] == one_by_one(messages, **options)
    assert len(server.messages) == 3


def test_drop_after_a_message_retries_the_next_one_on_a_new_connection() -> None:
    """This test ensures that a drop at a message's end fails it as maybe-sent and moves the next on."""
    messages = numbered(3)
    with PipeliningServer(data_replies=[DROP]) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert isinstance(results[0].error, TransientDeliveryError)
    assert "may or may not have accepted" in str(results[0].error)
    assert [r.error for r in results[1:]] == [None, None]
    # Message 1's envelope had gone out on the dropped connection: it starts again.
    assert subjects(server) == ["message 1", "message 2"]
    assert server.connections == 2


def test_server_closing_after_each_few_messages() -> None:
    """This test ensures that a server closing after n messages costs a reconnect, not a message."""
    messages = numbered(5)
    with PipeliningServer(messages_per_connection=2) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert all(r.error is None for r in results)
    assert subjects(server) == [m.subject for m in messages]
    assert server.connections == 3


def test_a_server_closing_right_after_the_content_reply() -> None:
    """This test ensures that a close after a 354 for the next message leaves it maybe-sent, not lost."""
    # The server has read the next envelope (it came with the message) and said 354 to it
    # before it closes: that message was sent and had no reply, so it may have arrived.
    messages = numbered(4)
    with PipeliningServer(close_after=2) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert [r.error for r in results[:2]] == [None, None]
    assert isinstance(results[2].error, TransientDeliveryError)
    assert "may or may not have accepted" in str(results[2].error)
    assert results[3].error is None
    assert subjects(server) == ["message 0", "message 1", "message 3"]


def test_max_messages_per_connection_is_kept() -> None:
    """This test ensures that no envelope is written ahead on a connection that is full."""
    messages = numbered(5)
    with PipeliningServer() as server, transport_for(server, max_messages_per_connection=2) as transport:
        results = list(transport.send_many(messages))
    assert all(r.error is None for r in results)
    assert [m.connection for m in server.messages] == [1, 1, 2, 2, 3]


def test_a_message_the_server_cannot_take_is_reported_in_order() -> None:
    """This test ensures that a message needing SMTPUTF8 from a server without it fails alone."""
    needs_utf8 = to("jürgen@müller.example", "needs SMTPUTF8")
    messages = [*numbered(1), needs_utf8, *numbered(1)]
    with PipeliningServer(smtputf8=False) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert isinstance(results[1].error, PermanentDeliveryError)
    assert "SMTPUTF8" in str(results[1].error)
    assert [r.error for r in (results[0], results[2])] == [None, None]
    assert len(server.messages) == 2


def test_stopping_early_sends_nothing_more_and_keeps_the_transport_usable() -> None:
    """This test ensures that closing the iteration after a result sends no further message."""
    messages = numbered(3)
    with PipeliningServer() as server, transport_for(server) as transport:
        results = transport.send_many(messages)
        first = next(results)
        results.close()  # the second message's envelope is under way, its content is not
        assert first.error is None
        later = transport.send(to("ok@example.com", "later"))
    assert later.reply_code == 250
    assert subjects(server) == ["message 0", "later"]


def test_messages_are_taken_while_the_server_works() -> None:
    """This test ensures that at most two messages are taken ahead, the second while the server works."""
    taken: list[int] = []
    delivered_when_taken: list[int] = []

    def source(server: PipeliningServer) -> Iterator[OutgoingMessage]:
        for n, message in enumerate(numbered(4)):
            taken.append(n)
            delivered_when_taken.append(len(server.messages))
            yield message

    with PipeliningServer(end_delay=0.05) as server, transport_for(server) as transport:
        results = transport.send_many(source(server))
        next(results)
        # Message 1's envelope went out with message 0; message 2 was taken after that,
        # while the server still held its reply to message 0.
        assert taken == [0, 1, 2]
        assert delivered_when_taken == [0, 0, 0]
        list(results)
    assert taken == [0, 1, 2, 3]
    assert len(server.messages) == 4


def test_send_or_close_while_an_iteration_is_paused() -> None:
    """This test ensures that send() and close() take the connection from a paused iteration."""
    with PipeliningServer() as server, transport_for(server) as transport:
        results = transport.send_many(numbered(3))
        assert next(results).error is None  # message 1's envelope is under way
        assert transport.send(to("ok@example.com", "between")).reply_code == 250
        assert [r.error for r in results] == [None, None]  # resumed on a new connection
        paused = transport.send_many(numbered(2))
        next(paused)
        transport.close()  # does not wait for the paused iteration
        assert [r.error for r in paused] == [None]
    assert subjects(server) == ["message 0", "between", "message 1", "message 2", "message 0", "message 1"]
    # Each takeover dropped the connection with an envelope under way; send() made the second.
    assert server.connections == 3


def test_an_error_in_the_source_comes_after_the_result_in_flight() -> None:
    """This test ensures that a failing source still gets the result of the message already sent."""

    def source() -> Iterator[OutgoingMessage]:
        yield numbered(1)[0]
        raise LookupError("the host's data is gone")

    with PipeliningServer() as server, transport_for(server) as transport:
        results = transport.send_many(source())
        first = next(results)
        with pytest.raises(LookupError, match="data is gone"):
            next(results)
        assert first.error is None
        assert transport.send(numbered(1)[0]).reply_code == 250
    assert len(server.messages) == 2


def test_an_error_in_the_source_before_any_message_is_raised() -> None:
    """This test ensures that a source failing at once is not mistaken for an empty one."""

    def source() -> Iterator[OutgoingMessage]:
        raise LookupError("no data")
        yield  # pragma: no cover

    with (
        PipeliningServer() as server,
        transport_for(server) as transport,
        pytest.raises(LookupError, match="no data"),
    ):
        list(transport.send_many(source()))
    assert server.messages == []


def test_without_pipelining_results_are_the_same_step_by_step() -> None:
    """This test ensures that a server without PIPELINING gets the messages one command at a time."""
    messages = numbered(3)
    with PipeliningServer(advertise=False) as server, transport_for(server) as transport:
        results = list(transport.send_many(messages))
    assert all(r.error is None for r in results)
    assert server.buffered_at_mail == [b"", b"", b""]
    assert len(server.messages) == 3
