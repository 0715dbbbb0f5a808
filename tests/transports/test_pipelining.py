"""SMTP PIPELINING (RFC 2920) against a real aiosmtpd server that advertises it.

The server (``pipelining_server.py``) advertises the keyword and records what had
already arrived when it handled each MAIL FROM (the proof of batching). Every
failure scenario runs twice, pipelined and step by step, and must end the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transport_support import make_message

from mailbill import (
    Address,
    OutgoingMessage,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientsRefusedError,
    SendReceipt,
    TransientDeliveryError,
)
from mailbill.errors import DeliveryError
from mailbill.transports._pipelining import WINDOW, dot_stuff, envelope_commands
from mailbill.transports.smtp import SMTPTransport
from pipelining_server import PipeliningServer
from smtp_server import DROP


def follow_up_message() -> OutgoingMessage:
    """A second message to a recipient no scenario refuses."""
    return make_message(subject="next", to=Address.parse_list("ok@example.com"), cc=())


@dataclass(frozen=True)
class Outcome:
    """What one send ended with, in comparable form."""

    receipt: tuple[object, ...] | None
    error: type[BaseException] | None
    details: tuple[object, ...]


def outcome_of(send: Any) -> Outcome:
    """Run ``send()`` and describe its result without object identities or message ids."""
    try:
        receipt: SendReceipt = send()
    except DeliveryError as exc:
        refused = getattr(exc, "refused", ())
        return Outcome(None, type(exc), (str(exc), exc.smtp_code, exc.enhanced_status, tuple(refused)))
    return Outcome((receipt.accepted, receipt.refused, receipt.reply_code, receipt.reply_text), None, ())


def run_both(server_options: dict[str, Any], message: OutgoingMessage) -> list[tuple[Outcome, Any]]:
    """Send ``message`` with and without pipelining, each to a fresh server; then a second message.

    Returns, per mode: the first send's outcome, and the server after the run.
    """
    results: list[tuple[Outcome, Any]] = []
    for pipelining in (True, False):
        with PipeliningServer(**server_options) as server:
            transport = SMTPTransport(
                server.host, port=server.port, security="none", timeout=5, pipelining=pipelining
            )
            with transport:
                first = outcome_of(lambda t=transport: t.send(message))
                # The connection must be usable (and in step) for the next message.
                follow_up = transport.send(follow_up_message())
            assert follow_up.reply_code == 250
            results.append((first, server))
    (piped, piped_server), (stepped, stepped_server) = results
    assert piped == stepped
    assert all(piped_server.buffered_at_mail[0])  # the pipelined run really pipelined
    assert not any(stepped_server.buffered_at_mail)
    return results


def test_success_delivers_the_same_bytes_in_fewer_round_trips(message: OutgoingMessage) -> None:
    """This test ensures that a pipelined send delivers the exact bytes and batches the envelope."""
    [(piped, server), _] = run_both({}, message)
    assert piped.error is None
    assert piped.receipt == (message.recipients, (), 250, "OK queued")
    assert server.messages[0].data == message.as_bytes()
    assert server.messages[0].rcpt_tos == message.recipients
    # When the server handled MAIL FROM, every RCPT TO and DATA had already arrived.
    assert re.fullmatch(rb"(RCPT TO:<[^>]+>\r\n){2}DATA\r\n", server.buffered_at_mail[0])
    assert server.connections == 1


def test_partial_refusal(message: OutgoingMessage) -> None:
    """This test ensures that a refused recipient is listed and the others still get the message."""
    options = {"rcpt_replies": {"accounts@example.net": "550 5.1.1 <accounts@example.net>: unknown"}}
    [(piped, server), _] = run_both(options, message)
    assert piped.receipt is not None
    assert piped.receipt[0] == ("zoe@example.org",)
    [refused] = piped.receipt[1]  # type: ignore[misc]
    assert (refused.code, refused.enhanced_status) == (550, "5.1.1")
    assert server.messages[0].rcpt_tos == ("zoe@example.org",)


def test_all_refused_reads_data_reply_and_resets(message: OutgoingMessage) -> None:
    """This test ensures that all-refused raises with every reply, then RSET keeps the connection."""
    replies = {
        "zoe@example.org": "550 5.1.1 no such user",
        "accounts@example.net": "553 5.1.3 bad address",
    }
    [(piped, server), _] = run_both({"rcpt_replies": replies}, message)
    assert piped.error is RecipientsRefusedError
    refused = piped.details[3]
    assert [(r.address, r.code, r.text, r.enhanced_status) for r in refused] == [  # type: ignore[attr-defined]
        ("zoe@example.org", 550, "5.1.1 no such user", "5.1.1"),
        ("accounts@example.net", 553, "5.1.3 bad address", "5.1.3"),
    ]
    assert server.resets == 1
    assert server.connections == 1
    assert [m.rcpt_tos for m in server.messages] == [("ok@example.com",)]  # only the follow-up


def test_all_refused_some_temporarily_is_transient(message: OutgoingMessage) -> None:
    """This test ensures that all-refused with a 4xx among them is retryable, as without pipelining."""
    replies = {"zoe@example.org": "550 5.1.1 no such user", "accounts@example.net": "450 4.2.1 busy"}
    [(piped, _), _] = run_both({"rcpt_replies": replies}, message)
    assert piped.error is TransientDeliveryError
    assert piped.details[1:3] == (450, "4.2.1")


def test_mail_from_refused(message: OutgoingMessage) -> None:
    """This test ensures that a refused MAIL FROM fails the whole message and the stream stays in step."""
    [(piped, server), _] = run_both({"mail_replies": ["550 5.7.1 sender not allowed"]}, message)
    assert piped.error is PermanentDeliveryError
    assert piped.details[1:3] == (550, "5.7.1")
    assert server.connections == 1
    assert len(server.messages) == 1


def test_lenient_server_accepting_data_without_recipients_gets_a_lone_dot(message: OutgoingMessage) -> None:
    """This test ensures that a 354 after all-refused is answered with '.' only (RFC 2920 3.1)."""
    replies = {"zoe@example.org": "550 5.1.1 no", "accounts@example.net": "550 5.1.1 no"}
    with (
        PipeliningServer(rcpt_replies=replies, lenient_data=True) as server,
        SMTPTransport(server.host, port=server.port, security="none", timeout=5) as transport,
    ):
        with pytest.raises(RecipientsRefusedError):
            transport.send(message)
        transport.send(follow_up_message())
    assert server.lenient_lines == [b".\r\n"]
    assert len(server.messages) == 1
    assert server.connections == 1


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("451 4.3.0 try later", TransientDeliveryError, 451),
        ("554 5.6.0 content rejected", PermanentDeliveryError, 554),
        ("452 4.7.1 too many messages", RateLimitedError, 452),
    ],
)
def test_data_command_and_end_of_data_refusals(
    message: OutgoingMessage, reply: str, error: type[DeliveryError], code: int
) -> None:
    """This test ensures that 4xx/5xx to DATA and to the message map as in the step-by-step path."""
    [(at_command, _), _] = run_both({"data_command_replies": (reply,)}, message)
    assert (at_command.error, at_command.details[1]) == (error, code)
    assert "DATA: server replied" in str(at_command.details[0])
    [(at_end, _), _] = run_both({"data_replies": [reply]}, message)
    assert (at_end.error, at_end.details[1]) == (error, code)
    assert "end of DATA" in str(at_end.details[0])


def test_rcpt_421_is_rate_limited(message: OutgoingMessage) -> None:
    """This test ensures that 421 to a RCPT TO ends the transaction as a rate limit in both paths."""
    options = {"rcpt_replies": {"accounts@example.net": "421 4.7.0 slow down"}}
    for pipelining in (True, False):
        with PipeliningServer(**options) as server:
            transport = SMTPTransport(
                server.host, port=server.port, security="none", timeout=5, pipelining=pipelining
            )
            with pytest.raises(RateLimitedError, match=r"RCPT TO accounts@example\.net"):
                transport.send(message)
            transport.close()
        assert server.messages == []


def test_connection_dropped_mid_pipeline(message: OutgoingMessage) -> None:
    """This test ensures that a drop at a RCPT TO is transient on a new connection, in both paths."""
    outcomes = []
    for pipelining in (True, False):
        with PipeliningServer(drop_at_rcpt=("accounts@example.net",)) as server:
            transport = SMTPTransport(
                server.host, port=server.port, security="none", timeout=5, pipelining=pipelining
            )
            outcomes.append(outcome_of(lambda t=transport: t.send(message)))
            transport.close()
        assert server.messages == []
    assert outcomes[0] == outcomes[1]
    assert outcomes[0].error is TransientDeliveryError
    assert "RCPT TO accounts@example.net: the server closed the connection" in str(outcomes[0].details[0])


def test_drop_mid_pipeline_on_reused_connection_retries_once(message: OutgoingMessage) -> None:
    """This test ensures that a reused connection breaking before the message is sent is retried once."""
    with (
        PipeliningServer() as server,
        SMTPTransport(server.host, port=server.port, security="none", timeout=5) as transport,
    ):
        transport.send(make_message(subject="first"))
        server.drop_at_rcpt.append("accounts@example.net")
        receipt = transport.send(message)
    assert receipt.reply_code == 250
    assert [m.data for m in server.messages][1] == message.as_bytes()
    assert len(server.messages) == 2
    assert server.connections == 2


def test_drop_after_message_sent_is_not_retried(message: OutgoingMessage) -> None:
    """This test ensures that a drop after the message was sent says it may have been accepted."""
    [(piped, server), _] = run_both({"data_replies": [DROP]}, message)
    assert piped.error is TransientDeliveryError
    assert "may or may not have accepted" in str(piped.details[0])
    assert server.connections == 2


def test_mail_421_retries_on_a_new_connection(message: OutgoingMessage) -> None:
    """This test ensures that 421 to MAIL FROM (a late idle timeout) is retried on a new connection."""
    [(piped, server), _] = run_both({"mail_replies": ["421 4.4.2 idle too long"]}, message)
    assert piped.error is None
    assert server.connections == 2
    assert server.messages[0].data == message.as_bytes()


def test_not_used_when_not_offered_or_switched_off(message: OutgoingMessage) -> None:
    """This test ensures that commands go one by one without the keyword or with pipelining=False."""
    for advertise, pipelining in ((False, True), (True, False)):
        with (
            PipeliningServer(advertise=advertise) as server,
            SMTPTransport(
                server.host, port=server.port, security="none", timeout=5, pipelining=pipelining
            ) as transport,
        ):
            transport.send(message)
        assert server.buffered_at_mail == [b""]
        assert server.messages[0].data == message.as_bytes()


def test_smtputf8_envelope_is_pipelined() -> None:
    """This test ensures that a non-ASCII address goes out as UTF-8 with SMTPUTF8 in the group."""
    message = make_message(to=(Address.parse("Jürgen <jürgen@müller.example>"),))
    with (
        PipeliningServer() as server,
        SMTPTransport(server.host, port=server.port, security="none", timeout=5) as transport,
    ):
        transport.send(message)
    assert "SMTPUTF8" in server.messages[0].mail_options
    assert server.messages[0].rcpt_tos[0] == "jürgen@müller.example"
    assert "jürgen@müller.example".encode() in server.buffered_at_mail[0]


def _reference_stuffing(data: bytes) -> bytes:
    """smtplib's own DATA transformation (line ends fixed first, as for a str message)."""
    fixed = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    quoted = re.sub(rb"(?m)^\.", b"..", fixed)
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"
    return quoted + b".\r\n"


@given(st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a", b"\xc3\xa4", b" "])).map(b"".join))
def test_dot_stuff_matches_smtplib(data: bytes) -> None:
    """This test ensures that the fast dot-stuffing equals smtplib's regex version for any bytes."""
    assert dot_stuff(data) == _reference_stuffing(data)


def test_dot_stuff_round_trips_through_smtplib_unstuffing() -> None:
    """This test ensures that CRLF input is left unchanged apart from the doubled dots and terminator."""
    body = b".a\r\n..b\r\nc.\r\n.\r\n"
    assert dot_stuff(body) == b"..a\r\n...b\r\nc.\r\n..\r\n.\r\n"
    assert dot_stuff(b"") == b"\r\n.\r\n"


def test_envelope_refuses_line_breaks() -> None:
    """This test ensures that an address with a line break cannot inject commands into the group."""
    with pytest.raises(PermanentDeliveryError, match="line break"):
        envelope_commands("a@example.com", ("b@example.com\r\nRCPT TO:<c@example.com>",), [])


def test_pipelining_option_defaults_on() -> None:
    """This test ensures that pipelining is on by default and can be switched off."""
    assert SMTPTransport("mx.example", security="none").pipelining is True
    assert SMTPTransport("mx.example", security="none", pipelining=False).pipelining is False


def test_long_recipient_list_goes_in_windows() -> None:
    """This test ensures that a long group is written in windows (no deadlock) and ends like step by step."""
    recipients = tuple(Address(f"kunde{n}@example.org") for n in range(250))
    message = make_message(to=recipients[:1], cc=(), bcc=recipients[1:])
    [(piped, server), _] = run_both({}, message)
    assert piped.receipt is not None
    assert piped.receipt[0] == message.recipients
    assert server.messages[0].rcpt_tos == message.recipients
    first_window = server.buffered_at_mail[0]
    assert first_window.count(b"RCPT TO:") == WINDOW - 1
    assert b"DATA" not in first_window


@given(
    st.one_of(
        st.emails(),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
        st.text(st.sampled_from("ab.@-_+=!#%&'*/?^`{|}~ä<>()[]\\,;:\" \t"), max_size=20),
    )
)
def test_envelope_addresses_are_quoted_as_smtplib_quotes_them(address: str) -> None:
    """This test ensures that the fast SMTP path quoting gives exactly smtplib.quoteaddr's result."""
    import smtplib

    from mailbill.transports._pipelining import quote_address

    assert quote_address(address) == smtplib.quoteaddr(address)


def test_plain_envelope_addresses_skip_the_address_parser() -> None:
    """This test ensures that a plain address is bracketed without smtplib's parser (the fast path)."""
    from unittest import mock

    from mailbill.transports import _pipelining

    with mock.patch.object(_pipelining.smtplib, "quoteaddr", side_effect=AssertionError("slow path")):
        assert _pipelining.quote_address("kunde1001@example.de") == "<kunde1001@example.de>"
        assert _pipelining.quote_address("") == "<>"
