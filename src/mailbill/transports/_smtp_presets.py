"""Well-known SMTP services as data: host, port and security a user would otherwise look up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["SMTP_PRESETS", "SMTPPreset", "Security"]

#: How an SMTP connection is secured: see :class:`~mailbill.SMTPTransport`.
Security = Literal["auto", "starttls", "tls", "none"]


@dataclass(frozen=True, slots=True)
class SMTPPreset:
    """The connection settings of a well-known SMTP service.

    Attributes:
        name: The preset's key in :data:`SMTP_PRESETS`.
        host: The server's host name.
        port: The submission port.
        security: How the connection is secured.
        description: What the preset is for and what it expects (shown in docs and UIs).
    """

    name: str
    host: str
    port: int
    security: Security
    description: str


#: Presets by name, for :meth:`SMTPTransport.from_preset`.
SMTP_PRESETS: Mapping[str, SMTPPreset] = MappingProxyType(
    {
        "microsoft365": SMTPPreset(
            "microsoft365",
            "smtp.office365.com",
            587,
            "starttls",
            "Microsoft 365 / Exchange Online SMTP client submission; use OAuth2 (XOAUTH2) - "
            "basic authentication is being switched off.",
        ),
        "gmail": SMTPPreset(
            "gmail",
            "smtp.gmail.com",
            587,
            "starttls",
            "Gmail and Google Workspace; use OAuth2 (XOAUTH2) or an app password.",
        ),
        "local-relay": SMTPPreset(
            "local-relay",
            "localhost",
            25,
            "auto",
            "A relay on this machine or the internal network (Postfix, Exchange receive "
            "connector); STARTTLS when offered, usually no authentication.",
        ),
    }
)
