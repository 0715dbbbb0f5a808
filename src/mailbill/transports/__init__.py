"""Transports: the pluggable part that hands composed messages on.

``BaseTransport`` is the contract (one required method, ``send``); the
implementations live beside it, one module each, and :func:`transport_from_url`
makes one from a URL (``smtp://``, ``smtps://``, ``file://``, ``outlook:``, ``memory:``).
"""

from mailbill.transports._registry import ENTRY_POINT_GROUP, mask_url, transport_from_url
from mailbill.transports._smtp_presets import SMTP_PRESETS, SMTPPreset
from mailbill.transports._smtp_session import SMTPServerReport, TokenProvider
from mailbill.transports.base import BaseTransport, Capabilities, SendResult
from mailbill.transports.filedrop import FileDropTransport
from mailbill.transports.memory import MemoryTransport
from mailbill.transports.outlook import OutlookBinding, OutlookTransport
from mailbill.transports.smtp import SMTPTransport

__all__ = [
    "ENTRY_POINT_GROUP",
    "SMTP_PRESETS",
    "BaseTransport",
    "Capabilities",
    "FileDropTransport",
    "MemoryTransport",
    "OutlookBinding",
    "OutlookTransport",
    "SMTPPreset",
    "SMTPServerReport",
    "SMTPTransport",
    "SendResult",
    "TokenProvider",
    "mask_url",
    "transport_from_url",
]
