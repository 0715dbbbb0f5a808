"""The transport contract: one required method, ``send``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from mailbill._models import OutgoingMessage, SendReceipt

__all__ = ["BaseTransport", "Capabilities", "SendResult"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one message of :meth:`BaseTransport.send_many` ended: a receipt, or the error.

    Attributes:
        message: The message, as taken from the input.
        receipt: The receipt when it was sent (then ``error`` is ``None``).
        error: The exception :meth:`~BaseTransport.send` would have raised for it.
    """

    message: OutgoingMessage
    receipt: SendReceipt | None = None
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a transport can carry and report.

    Attributes:
        html: HTML bodies.
        attachments: File attachments.
        inline_images: Inline images referred to by Content-ID.
        smtputf8: Addresses with non-ASCII local parts.
        bcc: Blind copies.
        delivers: ``True`` when a successful ``send`` means a mail server accepted
            the message; ``False`` when the transport only hands it on (a pickup
            folder, Outlook's Outbox or Drafts).
        preserves_bytes: Whether the exact composed bytes are what is handed on
            (``False`` for Outlook, which rebuilds the message from fields).
    """

    html: bool = True
    attachments: bool = True
    inline_images: bool = True
    smtputf8: bool = True
    bcc: bool = True
    delivers: bool = True
    preserves_bytes: bool = True


class BaseTransport:
    """Base class of every transport: subclass it and implement :meth:`send`.

    A transport hands composed messages on: to an SMTP server, into a folder, to
    Outlook, or into memory. ``open()`` and ``close()`` do nothing by default; a
    transport that holds a connection opens it there (or lazily on the first
    ``send``) and reuses it for every message until ``close()``. Use it as a
    context manager so it is closed on every path::

        with SMTPTransport("smtp.example.com", port=587, username="billing",
                           password="...") as transport:
            for message in messages:
                transport.send(message)

    Attributes:
        name: A name for logs, receipts and rate limits (the account name).
        capabilities: What this transport can carry; see :class:`Capabilities`.
    """

    name: str = "transport"
    capabilities: Capabilities = Capabilities()

    def open(self) -> None:
        """Open the connection or resources; sending opens lazily when not called."""

    def close(self) -> None:
        """Release the connection or resources; the transport may be opened again."""

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Hand one message on and return a receipt; the one method a transport must implement.

        Contract for implementations:

        - Send exactly ``message`` (``message.as_bytes()`` for byte transports), to
          ``message.recipients`` with envelope sender ``message.mail_from``.
        - Return a :class:`~mailbill.SendReceipt` naming the accepted recipients, and
          the refused ones when a server accepted only some; set ``handed_off=True``
          when the transport cannot know the message was delivered.
        - Raise :class:`~mailbill.TransientDeliveryError` when a later try may work,
          :class:`~mailbill.PermanentDeliveryError` when it will not,
          :class:`~mailbill.AccountError` when the account cannot send at all, and
          :class:`~mailbill.UnsupportedFeatureError` when the message needs a
          capability the transport lacks. Map foreign exceptions into these with
          ``raise ... from exc``.
        - Never log or ``repr`` a password or token.

        Example:
            >>> class PrintTransport(BaseTransport):
            ...     name = "print"
            ...     def send(self, message):
            ...         print(message.subject)
            ...         return SendReceipt(message.message_id, self.name, message.recipients)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement the 'send' method")

    def send_many(self, messages: Iterable[OutgoingMessage], /) -> Iterator[SendResult]:
        """Send messages one after the other; yield each one's result, in order, as it ends.

        A failed message does not stop the others: its exception (any
        :class:`Exception`; others propagate) is in its result. ``messages`` is
        read lazily (a transport may take a message or two ahead of its
        results), so the caller can produce the next message while the
        previous one is under way, and stop by ending its iterable. When the
        caller stops iterating, a message whose result was not yielded has had
        none of its content sent (a transport may have started its envelope).

        The default calls :meth:`send` for each message. A transport may overlap
        messages instead: :class:`~mailbill.SMTPTransport` with PIPELINING writes
        the next message's envelope with the previous message, before it reads
        the server's reply to it (one round trip a message instead of two).

        Example:
            >>> for result in transport.send_many(messages):  # doctest: +SKIP
            ...     print(result.message.subject, result.error or result.receipt.reply_code)
        """
        for message in messages:
            try:
                receipt = self.send(message)
            except Exception as exc:  # reported in the result; the next message still goes
                yield SendResult(message, error=exc)
            else:
                yield SendResult(message, receipt=receipt)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
