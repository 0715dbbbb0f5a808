"""Transports: the pluggable part that hands composed messages on.

``BaseTransport`` is the contract (one required method, ``send``); the
implementations live beside it, one module each.
"""

from mailbill.transports.base import BaseTransport, Capabilities
from mailbill.transports.memory import MemoryTransport

__all__ = ["BaseTransport", "Capabilities", "MemoryTransport"]
