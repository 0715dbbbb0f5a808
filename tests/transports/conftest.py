"""Fixtures for the transport tests: messages, and certificates made at test time."""

from __future__ import annotations

import ssl

import pytest
import trustme
from transport_support import TLSSetup, make_message

from mailbill import OutgoingMessage
from smtp_server import smtp_server  # a fixture, shared from there

__all__ = ["TLSSetup", "message", "smtp_server", "tls"]


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSSetup:
    """A certificate for 127.0.0.1 signed by a CA generated for this test run."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TLSSetup(ca, server_context, client_context, str(ca_file))


@pytest.fixture
def message() -> OutgoingMessage:
    """One realistic message (see make_message)."""
    return make_message()
