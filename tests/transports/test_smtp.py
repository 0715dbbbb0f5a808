"""SMTPTransport against real aiosmtpd servers on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import logging
import smtplib
import ssl
from pathlib import Path

import pytest
import trustme
from transport_support import TLSSetup, make_message

from mailbill import (
    Address,
    AuthenticationError,
    ConfigurationError,
    OutgoingMessage,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientsRefusedError,
    TLSError,
    TransientDeliveryError,
)
from mailbill.transports import SMTP_PRESETS
from mailbill.transports.smtp import SMTPTransport
from smtp_server import DROP, SMTPServer


def plain(server: SMTPServer, **options: object) -> SMTPTransport:
    """A transport to ``server`` without TLS and with a short timeout."""
    settings: dict[str, object] = {"timeout": 5.0, **options}
    return SMTPTransport(server.host, port=server.port, security="none", **settings)  # type: ignore[arg-type]


# -- TLS ---------------------------------------------------------------------------------------


def test_starttls_encrypts_and_delivers_exact_bytes(tls: TLSSetup, message: OutgoingMessage) -> None:
    """This test ensures that STARTTLS is negotiated, the certificate verified, the bytes intact."""
    with (
        SMTPServer(starttls_context=tls.server_context, require_starttls=True) as server,
        SMTPTransport(
            server.host, port=server.port, security="starttls", ca_file=tls.ca_file, timeout=5
        ) as transport,
    ):
        receipt = transport.send(message)
    assert server.messages[0].tls
    assert server.messages[0].data == message.as_bytes()
    assert receipt.accepted == message.recipients
    assert receipt.reply_code == 250


def test_implicit_tls(tls: TLSSetup, message: OutgoingMessage) -> None:
    """This test ensures that security='tls' speaks TLS from the first byte."""
    with (
        SMTPServer(tls_context=tls.server_context) as server,
        SMTPTransport(
            server.host, port=server.port, security="tls", ssl_context=tls.client_context, timeout=5
        ) as transport,
    ):
        transport.send(message)
    assert server.messages[0].tls
    assert server.messages[0].data == message.as_bytes()


def test_untrusted_certificate_fails_with_tls_error(message: OutgoingMessage) -> None:
    """This test ensures that a certificate from an unknown CA is refused by default."""
    stranger = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    stranger.issue_cert("127.0.0.1").configure_cert(context)
    with SMTPServer(starttls_context=context) as server:
        transport = SMTPTransport(server.host, port=server.port, security="starttls", timeout=5)
        with pytest.raises(TLSError, match="did not verify") as info:
            transport.send(message)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert server.messages == []


def test_starttls_required_but_not_offered(message: OutgoingMessage) -> None:
    """This test ensures that security='starttls' fails when the server offers no STARTTLS."""
    with SMTPServer() as server:
        transport = SMTPTransport(server.host, port=server.port, security="starttls", timeout=5)
        with pytest.raises(TLSError, match="does not offer STARTTLS"):
            transport.send(message)
    assert server.messages == []


def test_auto_uses_starttls_when_offered(tls: TLSSetup, message: OutgoingMessage) -> None:
    """This test ensures that security='auto' upgrades with STARTTLS when the server offers it."""
    with (
        SMTPServer(starttls_context=tls.server_context) as server,
        SMTPTransport(server.host, port=server.port, ssl_context=tls.client_context, timeout=5) as transport,
    ):
        transport.send(message)
    assert server.messages[0].tls


def test_client_certificate(tls: TLSSetup, message: OutgoingMessage, tmp_path: Path) -> None:
    """This test ensures that a client certificate is presented when configured, and missing it fails."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.ca.issue_cert("127.0.0.1").configure_cert(server_context)
    tls.ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_pem = tmp_path / "client.pem"
    tls.ca.issue_cert("billing.example.com").private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    with SMTPServer(starttls_context=server_context) as server:
        options: dict[str, object] = {"port": server.port, "security": "starttls", "timeout": 5}
        without = SMTPTransport(server.host, ca_file=tls.ca_file, **options)  # type: ignore[arg-type]
        with pytest.raises(TLSError):
            without.send(message)
        with SMTPTransport(
            server.host,
            ca_file=tls.ca_file,
            client_cert=client_pem,
            **options,  # type: ignore[arg-type]
        ) as transport:
            transport.send(message)
    assert len(server.messages) == 1
    assert server.messages[0].tls


def test_tls_options_conflict(tls: TLSSetup) -> None:
    """This test ensures that contradictory TLS options are refused at construction."""
    with pytest.raises(ConfigurationError, match="not both"):
        SMTPTransport("mail.example.com", ssl_context=tls.client_context, ca_file=tls.ca_file)
    with pytest.raises(ConfigurationError, match="cannot load"):
        SMTPTransport("mail.example.com", ca_file="/nonexistent/ca.pem")


def test_only_transports_that_may_use_tls_load_the_ca_certificates(
    monkeypatch: pytest.MonkeyPatch, smtp_server: SMTPServer
) -> None:
    """This test ensures that security='none' makes no TLS context, and can never reach TLS without one.

    Loading the system's CA certificates is slow; smtplib given no context would
    negotiate TLS without verifying, so a transport switched to TLS afterwards refuses.
    """
    made: list[object] = []
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        made.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    transport = plain(smtp_server)
    transport.send(make_message())
    assert made == []
    SMTPTransport("mail.example.com", security="starttls")
    SMTPTransport("mail.example.com", security="auto")
    assert len(made) == 2
    switched = plain(smtp_server)
    switched.security = "tls"
    with pytest.raises(ConfigurationError, match="make a new SMTPTransport"):
        switched.send(make_message())
    transport.close()


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_password_auth(tls: TLSSetup, message: OutgoingMessage, mechanism: str) -> None:
    """This test ensures that AUTH PLAIN and LOGIN log in with the configured credentials."""
    with (
        SMTPServer(starttls_context=tls.server_context, users={"billing": "s3cret"}) as server,
        SMTPTransport(
            server.host,
            port=server.port,
            security="starttls",
            ssl_context=tls.client_context,
            username="billing",
            password="s3cret",
            auth_mechanism=mechanism,
            timeout=5,
        ) as transport,
    ):
        transport.send(message)
    assert [(a.mechanism, a.success) for a in server.auth_attempts] == [(mechanism, True)]
    assert server.messages[0].login == "billing"


def test_wrong_password_is_one_failed_login(tls: TLSSetup, message: OutgoingMessage) -> None:
    """This test ensures that a wrong password costs exactly one failed login, not one per mechanism."""
    with SMTPServer(starttls_context=tls.server_context, users={"billing": "s3cret"}) as server:
        transport = SMTPTransport(
            server.host,
            port=server.port,
            security="starttls",
            ssl_context=tls.client_context,
            username="billing",
            password="wrong",
            timeout=5,
        )
        with pytest.raises(AuthenticationError) as info:
            transport.send(message)
    assert len(server.auth_attempts) == 1
    assert info.value.smtp_code == 535
    assert info.value.enhanced_status == "5.7.8"
    assert isinstance(info.value.__cause__, smtplib.SMTPAuthenticationError)


def test_xoauth2_refreshes_an_expired_token_once(tls: TLSSetup, message: OutgoingMessage) -> None:
    """This test ensures that a rejected OAuth2 token is replaced by a fresh one from the provider."""
    tokens = iter(["expired-token", "fresh-token"])
    calls: list[str] = []

    def provider() -> str:
        calls.append("called")
        return next(tokens)

    with (
        SMTPServer(starttls_context=tls.server_context, xoauth2_tokens={"fresh-token"}) as server,
        SMTPTransport(
            server.host,
            port=server.port,
            security="starttls",
            ssl_context=tls.client_context,
            username="billing@example.com",
            oauth2_token=provider,
            timeout=5,
        ) as transport,
    ):
        transport.send(message)
    assert [(a.credential, a.success) for a in server.auth_attempts] == [
        ("expired-token", False),
        ("fresh-token", True),
    ]
    assert len(calls) == 2
    assert server.messages[0].login == "billing@example.com"


def test_xoauth2_same_token_again_is_not_retried(tls: TLSSetup, message: OutgoingMessage) -> None:
    """This test ensures that the same rejected token again is not tried twice."""
    with SMTPServer(starttls_context=tls.server_context, xoauth2_tokens={"good"}) as server:
        transport = SMTPTransport(
            server.host,
            port=server.port,
            security="starttls",
            ssl_context=tls.client_context,
            username="billing@example.com",
            oauth2_token=lambda: "bad",
            timeout=5,
        )
        with pytest.raises(AuthenticationError):
            transport.send(message)
    assert len(server.auth_attempts) == 1


def test_refuses_credentials_without_tls(message: OutgoingMessage) -> None:
    """This test ensures that credentials are never sent when the server offers no TLS."""
    with SMTPServer(users={"billing": "s3cret"}, auth_require_tls=False) as server:
        transport = SMTPTransport(
            server.host, port=server.port, username="billing", password="s3cret", timeout=5
        )
        with pytest.raises(AuthenticationError, match="refusing to send credentials"):
            transport.send(message)
    assert server.auth_attempts == []


def test_insecure_auth_when_explicitly_allowed(message: OutgoingMessage) -> None:
    """This test ensures that allow_insecure_auth=True permits AUTH on a plain connection."""
    with (
        SMTPServer(users={"billing": "s3cret"}, auth_require_tls=False) as server,
        plain(server, username="billing", password="s3cret", allow_insecure_auth=True) as transport,
    ):
        transport.send(message)
    assert server.auth_attempts[0].success


def test_security_none_with_password_is_a_configuration_error() -> None:
    """This test ensures that asking for cleartext credentials fails at construction."""
    with pytest.raises(ConfigurationError, match="allow_insecure_auth"):
        SMTPTransport("mail.example.com", security="none", username="u", password="p")


def test_repr_masks_secrets() -> None:
    """This test ensures that neither a password nor a token appears in repr()."""
    with_password = SMTPTransport("mail.example.com", username="u", password="hunter2-secret")
    with_token = SMTPTransport("mail.example.com", username="u", oauth2_token=lambda: "tok-secret")
    assert "hunter2" not in repr(with_password)
    assert "auth=password" in repr(with_password)
    assert "tok-secret" not in repr(with_token)
    assert "u@mail.example.com:587" in repr(with_token)


def test_logs_never_show_secrets(
    tls: TLSSetup, message: OutgoingMessage, caplog: pytest.LogCaptureFixture
) -> None:
    """This test ensures that mailbill's debug logs name the server but never a password or token."""
    caplog.set_level(logging.DEBUG, logger="mailbill")
    tokens = iter(["stale-token-123", "fresh-token-456"])
    with (
        SMTPServer(
            starttls_context=tls.server_context,
            users={"u": "pw-789"},
            xoauth2_tokens={"fresh-token-456"},
        ) as server,
        SMTPTransport(
            server.host,
            port=server.port,
            ssl_context=tls.client_context,
            username="u",
            oauth2_token=lambda: next(tokens),
        ) as oauth,
        SMTPTransport(
            server.host, port=server.port, ssl_context=tls.client_context, username="u", password="pw-789"
        ) as password,
    ):
        oauth.send(message)
        password.send(message)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("mailbill"))
    assert "127.0.0.1" in logged
    assert "rejected the OAuth2 token" in logged
    for secret in ("stale-token-123", "fresh-token-456", "pw-789"):
        assert secret not in logged


# -- error mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "code", "enhanced"),
    [
        ("421 4.7.0 Too many messages, slow down", RateLimitedError, 421, "4.7.0"),
        ("451 4.3.0 Temporary server error", TransientDeliveryError, 451, "4.3.0"),
        ("452 4.3.1 Insufficient system storage", TransientDeliveryError, 452, "4.3.1"),
        ("552 5.3.4 Message size exceeds fixed limit", PermanentDeliveryError, 552, "5.3.4"),
        ("554 5.7.1 Message rejected as spam", PermanentDeliveryError, 554, "5.7.1"),
        ("550 5.7.1 Sender not allowed", PermanentDeliveryError, 550, "5.7.1"),
    ],
)
def test_data_replies_map_to_errors(
    message: OutgoingMessage, reply: str, error: type[Exception], code: int, enhanced: str
) -> None:
    """This test ensures that each DATA reply code becomes the right error with code, status and text."""
    with (
        SMTPServer(data_replies=[reply]) as server,
        plain(server) as transport,
        pytest.raises(error) as info,
    ):
        transport.send(message)
    assert type(info.value) is error
    assert info.value.smtp_code == code  # type: ignore[attr-defined]
    assert info.value.enhanced_status == enhanced  # type: ignore[attr-defined]
    assert reply.split(" ", 1)[1] in info.value.server_text  # type: ignore[attr-defined]


def test_rate_limit_on_mail_from(message: OutgoingMessage) -> None:
    """This test ensures that a 4.7.x throttling reply to MAIL FROM is a RateLimitedError."""
    with (
        SMTPServer(mail_replies=["450 4.7.0 Rate limit exceeded, retry in 60 seconds"]) as server,
        plain(server) as transport,
        pytest.raises(RateLimitedError) as info,
    ):
        transport.send(message)
    assert info.value.retry_after == 60
    assert server.messages == []


def test_all_recipients_refused(message: OutgoingMessage) -> None:
    """This test ensures that refusing every recipient raises RecipientsRefusedError with each reply."""
    replies = {r: f"550 5.1.1 <{r}>: user unknown" for r in message.recipients}
    with SMTPServer(rcpt_replies=replies) as server, plain(server) as transport:
        with pytest.raises(RecipientsRefusedError) as info:
            transport.send(message)
        transport.send(make_message(to=Address.parse_list("other@example.org"), cc=()))
    refused = info.value.refused
    assert [r.address for r in refused] == list(message.recipients)
    assert {(r.code, r.enhanced_status) for r in refused} == {(550, "5.1.1")}
    assert "user unknown" in refused[0].text
    assert len(server.messages) == 1  # the connection was reset and reused
    assert server.connections == 1


def test_all_recipients_temporarily_refused_is_transient(message: OutgoingMessage) -> None:
    """This test ensures that 4xx refusals of every recipient do not fail the message for good."""
    replies = dict.fromkeys(message.recipients, "452 4.5.3 Too many recipients")
    with (
        SMTPServer(rcpt_replies=replies) as server,
        plain(server) as transport,
        pytest.raises(TransientDeliveryError) as info,
    ):
        transport.send(message)
    assert not isinstance(info.value, PermanentDeliveryError)
    assert info.value.smtp_code == 452


def test_partial_refusal_is_success_listing_refused(message: OutgoingMessage) -> None:
    """This test ensures that when some recipients are refused the receipt lists them and the rest get it."""
    refused_address = message.recipients[1]
    with (
        SMTPServer(rcpt_replies={refused_address: "550 5.1.1 no such user"}) as server,
        plain(server) as transport,
    ):
        receipt = transport.send(message)
    assert receipt.accepted == (message.recipients[0],)
    assert [(r.address, r.code, r.enhanced_status) for r in receipt.refused] == [
        (refused_address, 550, "5.1.1")
    ]
    assert server.messages[0].rcpt_tos == (message.recipients[0],)


def test_connection_dropped_during_data(message: OutgoingMessage) -> None:
    """This test ensures that a connection lost during DATA is transient and is not silently retried."""
    with SMTPServer(data_replies=[DROP]) as server, plain(server) as transport:
        with pytest.raises(TransientDeliveryError, match="may or may not") as info:
            transport.send(message)
        assert isinstance(info.value.__cause__, smtplib.SMTPServerDisconnected)
        transport.send(message)  # a later send reconnects
    assert server.connections == 2
    assert len(server.messages) == 1


def test_stalled_server_times_out(message: OutgoingMessage) -> None:
    """This test ensures that a server that never answers DATA gives a TransientDeliveryError."""
    with (
        SMTPServer(data_delay=1.0) as server,
        plain(server, timeout=0.2) as transport,
        pytest.raises(TransientDeliveryError) as info,
    ):
        transport.send(message)
    assert isinstance(info.value.__cause__, TimeoutError | smtplib.SMTPServerDisconnected)


def test_unreachable_server_is_transient(message: OutgoingMessage) -> None:
    """This test ensures that a refused TCP connection is a TransientDeliveryError."""
    with SMTPServer() as server:
        port = server.port
    with pytest.raises(TransientDeliveryError, match="connecting"):
        SMTPTransport("127.0.0.1", port=port, security="none", timeout=2).send(message)


def test_smtputf8_needed_but_not_offered(message: OutgoingMessage) -> None:
    """This test ensures that a non-ASCII mailbox without server SMTPUTF8 fails permanently."""
    utf8 = make_message(to=Address.parse_list("jürgen@example.de"), cc=())
    with (
        SMTPServer(smtputf8=False) as server,
        plain(server) as transport,
        pytest.raises(PermanentDeliveryError, match="SMTPUTF8"),
    ):
        transport.send(utf8)
    assert server.messages == []


def test_smtputf8_used_when_offered() -> None:
    """This test ensures that SMTPUTF8 is requested and the UTF-8 envelope arrives intact."""
    utf8 = make_message(to=Address.parse_list("jürgen@example.de"), cc=())
    with SMTPServer() as server, plain(server) as transport:
        transport.send(utf8)
    assert "SMTPUTF8" in server.messages[0].mail_options
    assert server.messages[0].rcpt_tos == ("jürgen@example.de",)
    assert server.messages[0].data == utf8.as_bytes()


def test_envelope_sender_is_separate_from_from_header(smtp_server: SMTPServer) -> None:
    """This test ensures that MAIL FROM uses the envelope sender while the From header stays."""
    msg = make_message(envelope_sender=Address.parse("bounces@example.com"))
    with plain(smtp_server) as transport:
        transport.send(msg)
    assert smtp_server.messages[0].mail_from == "bounces@example.com"
    received = email.message_from_bytes(smtp_server.messages[0].data, policy=email.policy.default)
    assert str(received["From"]) == str(msg.sender)


def test_local_hostname_in_ehlo(smtp_server: SMTPServer, message: OutgoingMessage) -> None:
    """This test ensures that the configured local hostname is what the server sees in EHLO."""
    with plain(smtp_server, local_hostname="billing.example.com") as transport:
        transport.send(message)
    assert smtp_server.messages[0].helo == "billing.example.com"


# -- connections -------------------------------------------------------------------------------


def test_reconnects_after_server_closed_connection(message: OutgoingMessage) -> None:
    """This test ensures that a connection the server closed is replaced without losing or doubling mail."""
    with SMTPServer(close_after=1) as server, plain(server) as transport:
        for _ in range(3):
            transport.send(message)
    assert len(server.messages) == 3
    assert server.connections == 3


def test_idle_connection_checked_with_noop(message: OutgoingMessage) -> None:
    """This test ensures that an idle connection the server timed out is detected and replaced."""
    now = [0.0]
    with SMTPServer(close_after=1) as server:
        transport = plain(server, idle_check_after=5.0, clock=lambda: now[0])
        with transport:
            transport.send(message)
            now[0] = 60.0
            transport.send(message)
    assert len(server.messages) == 2
    assert [m.connection for m in server.messages] == [1, 2]


def test_421_on_reused_connection_reconnects(message: OutgoingMessage) -> None:
    """This test ensures that a late 421 idle-timeout reply on a reused connection leads to one reconnect."""
    with SMTPServer() as server, plain(server) as transport:
        transport.send(message)
        server.script_mail_replies("421 4.4.2 mx.test Error: timeout exceeded")
        transport.send(message)
    assert len(server.messages) == 2
    assert server.connections == 2


def test_max_messages_per_connection(message: OutgoingMessage) -> None:
    """This test ensures that the transport reconnects after the configured number of messages."""
    with SMTPServer() as server, plain(server, max_messages_per_connection=2) as transport:
        for _ in range(5):
            transport.send(message)
    assert [m.connection for m in server.messages] == [1, 1, 2, 2, 3]


def test_check_reports_server_features(tls: TLSSetup) -> None:
    """This test ensures that check() reports TLS, AUTH, SIZE and SMTPUTF8 without sending."""
    with SMTPServer(starttls_context=tls.server_context, users={"u": "p"}) as server:
        report = SMTPTransport(
            server.host,
            port=server.port,
            security="starttls",
            ssl_context=tls.client_context,
            username="u",
            password="p",
            timeout=5,
        ).check()
    assert report.tls
    assert report.tls_version is not None
    assert report.starttls_offered
    assert {"PLAIN", "LOGIN"} <= set(report.auth_mechanisms)
    assert report.authenticated
    assert report.size_limit == 33554432
    assert report.smtputf8
    assert not report.pipelining
    assert server.messages == []


def test_presets() -> None:
    """This test ensures that presets carry the documented settings and unknown names are refused."""
    m365 = SMTPTransport.from_preset("microsoft365", username="a@example.com", oauth2_token=lambda: "t")
    assert (m365.host, m365.port, m365.security) == ("smtp.office365.com", 587, "starttls")
    with pytest.raises(ConfigurationError, match="nope"):
        SMTPTransport.from_preset("nope")
    documented = (Path(__file__).parents[2] / "docs" / "reference" / "transports.md").read_text("utf-8")
    for preset in SMTP_PRESETS.values():
        row = f"| `{preset.name}` | `{preset.host}` | {preset.port} | `{preset.security}` |"
        assert row in documented
