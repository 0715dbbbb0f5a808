"""Every exception mailbill raises, in one tree.

The type of an exception tells the caller what to do next: fix the setup, put
the document aside (paper, or a person looks at it), or try again later::

    MailbillError
    ├── ConfigurationError (ValueError)          fix the setup; raised early, stops a run
    │   └── MissingDependencyError (ImportError) names the extra to install
    ├── DocumentError (ValueError)               this document cannot be sent as it is
    │   ├── AddressError                         an address does not parse or validate
    │   ├── HeaderInjectionError                 a line break or control character in a header
    │   ├── AttachmentError                      unreadable, mislabelled or too large
    │   ├── SenderNotResolvedError               no sender rule answered (.tried)
    │   ├── TemplateError                        a template problem (.template)
    │   │   ├── TemplateNotFoundError (LookupError)  no language in the chain (.tried)
    │   │   ├── TemplateSyntaxError              a syntax error (.lineno)
    │   │   ├── MissingFieldError (KeyError)     a merge field has no value (.field)
    │   │   ├── SubjectLineError                 a subject rendered to more than one line
    │   │   └── TemplateSecurityError            the sandbox or a limit stopped it
    │   └── UnsupportedFeatureError              the transport cannot do what the message needs
    ├── DeliveryError                            raised by transports (.smtp_code, ...)
    │   ├── TransientDeliveryError (ConnectionError)  try again later
    │   │   └── RateLimitedError                 the server throttles (.retry_after)
    │   ├── PermanentDeliveryError               do not retry this message
    │   │   └── RecipientsRefusedError           every recipient was refused (.refused)
    │   └── AccountError                         the account cannot send at all: stop using it
    │       ├── AuthenticationError              the server refused the credentials
    │       └── TLSError                         TLS could not be negotiated or verified
    └── OutboxError                              the outbox refused an operation
        ├── ItemNotFoundError (LookupError)
        └── InvalidTransitionError               a status change that is not allowed

A host application typically writes::

    try:
        transport.send(message)
    except mailbill.TransientDeliveryError:
        ...  # leave it queued, retry later
    except mailbill.PermanentDeliveryError:
        ...  # mark it failed, print it on paper
    except mailbill.AccountError:
        ...  # stop: a person must fix the account settings

Errors raised for a foreign error (smtplib, ssl, COM) keep it as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AccountError",
    "AddressError",
    "AttachmentError",
    "AuthenticationError",
    "ConfigurationError",
    "DeliveryError",
    "DocumentError",
    "HeaderInjectionError",
    "InvalidTransitionError",
    "ItemNotFoundError",
    "MailbillError",
    "MissingDependencyError",
    "MissingFieldError",
    "OutboxError",
    "PermanentDeliveryError",
    "RateLimitedError",
    "RecipientsRefusedError",
    "RefusedRecipient",
    "SenderNotResolvedError",
    "SubjectLineError",
    "TLSError",
    "TemplateError",
    "TemplateNotFoundError",
    "TemplateSecurityError",
    "TemplateSyntaxError",
    "TransientDeliveryError",
    "UnsupportedFeatureError",
]


class MailbillError(Exception):
    """Base class of every exception mailbill raises on purpose."""


class ConfigurationError(MailbillError, ValueError):
    """The setup is wrong: an unknown option, a bad value, an impossible combination.

    Raised as early as possible (at construction), never halfway through a batch.
    """


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra to install.

    Attributes:
        extra: The name of the extra, as in ``pip install "mailbill[extra]"``.
    """

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(f'{message}; install it with: pip install "mailbill[{extra}]"')
        self.extra = extra


class DocumentError(MailbillError, ValueError):
    """This document or message cannot be sent as it is; others are not affected."""


class AddressError(DocumentError):
    """An e-mail address does not parse or is not valid.

    Attributes:
        address: The text that was given.
    """

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class HeaderInjectionError(DocumentError):
    """A header value, address or file name holds a line break or control character.

    Attributes:
        field: Where the value was meant to go (a header name, ``"filename"``, ...).
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class AttachmentError(DocumentError):
    """An attachment is unreadable, is not what it claims to be, or is too large.

    Attributes:
        filename: The attachment's file name, when there is one.
    """

    def __init__(self, message: str, *, filename: str = "") -> None:
        super().__init__(message)
        self.filename = filename


class SenderNotResolvedError(DocumentError):
    """No rule of a sender cascade produced a usable sender.

    Attributes:
        tried: One entry per rule, in order, saying why it did not answer.
    """

    def __init__(self, message: str, *, tried: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.tried = tuple(tried)


class TemplateError(DocumentError):
    """A template cannot be found, parsed or rendered.

    Attributes:
        template: The name of the template concerned (kind/language/part), if known.
    """

    def __init__(self, message: str, *, template: str = "") -> None:
        super().__init__(message)
        self.template = template


class TemplateNotFoundError(TemplateError, LookupError):
    """No template exists for a kind in any language of the fallback chain.

    Attributes:
        tried: The template names tried, in order.
    """

    def __init__(self, message: str, *, template: str = "", tried: Sequence[str] = ()) -> None:
        super().__init__(message, template=template)
        self.tried = tuple(tried)


class TemplateSyntaxError(TemplateError):
    """A template does not parse.

    Attributes:
        lineno: The 1-based line of the error, when known.
        column: The 1-based column, when known.
    """

    def __init__(
        self, message: str, *, template: str = "", lineno: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message, template=template)
        self.lineno = lineno
        self.column = column


class MissingFieldError(TemplateError, KeyError):
    """A merge field used by a template has no value in the context.

    Attributes:
        field: The name of the missing field (dotted for nested ones).
    """

    def __init__(self, message: str, *, template: str = "", field: str = "") -> None:
        super().__init__(message, template=template)
        self.field = field

    def __str__(self) -> str:  # KeyError would otherwise show the repr of the message
        return str(self.args[0]) if self.args else ""


class SubjectLineError(TemplateError):
    """A subject template rendered to more than one line (a subject is one header line)."""


class TemplateSecurityError(TemplateError):
    """The sandbox stopped a template: unsafe access, or a size or time limit exceeded."""


class UnsupportedFeatureError(DocumentError):
    """A transport cannot do what a message needs (for example attachments or SMTPUTF8)."""


@dataclass(frozen=True, slots=True)
class RefusedRecipient:
    """One recipient a server refused, with the server's reply.

    Attributes:
        address: The envelope address that was refused.
        code: The SMTP reply code (for example 550).
        text: The server's reply text.
        enhanced_status: The RFC 3463 enhanced status code (for example ``"5.1.1"``), if given.
    """

    address: str
    code: int
    text: str
    enhanced_status: str | None = None


class DeliveryError(MailbillError):
    """A transport could not hand a message on.

    Attributes:
        smtp_code: The SMTP reply code, when the error came from a server reply.
        enhanced_status: The RFC 3463 enhanced status code (``"4.7.0"``), when given.
        server_text: The server's reply text, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        smtp_code: int | None = None,
        enhanced_status: str | None = None,
        server_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code
        self.enhanced_status = enhanced_status
        self.server_text = server_text


class TransientDeliveryError(DeliveryError, ConnectionError):
    """A temporary failure (4xx reply, disconnect, timeout): try again later."""


class RateLimitedError(TransientDeliveryError):
    """The server throttles this sender (421, 4.7.x); pause the account, do not fail the message.

    Attributes:
        retry_after: Seconds to wait before sending again, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        smtp_code: int | None = None,
        enhanced_status: str | None = None,
        server_text: str | None = None,
    ) -> None:
        super().__init__(
            message, smtp_code=smtp_code, enhanced_status=enhanced_status, server_text=server_text
        )
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A permanent failure (5xx reply): sending the same message again will fail again."""


class RecipientsRefusedError(PermanentDeliveryError):
    """The server refused every recipient of a message.

    Attributes:
        refused: One :class:`RefusedRecipient` per address.
    """

    def __init__(self, message: str, *, refused: Sequence[RefusedRecipient]) -> None:
        first = refused[0] if refused else None
        super().__init__(
            message,
            smtp_code=first.code if first else None,
            enhanced_status=first.enhanced_status if first else None,
            server_text=first.text if first else None,
        )
        self.refused = tuple(refused)


class AccountError(DeliveryError):
    """The account cannot send at all (credentials, TLS): stop sending on it, keep its mail."""


class AuthenticationError(AccountError):
    """The server refused the credentials, or offers no way to authenticate safely."""


class TLSError(AccountError):
    """TLS could not be negotiated, or the server's certificate did not verify."""


class OutboxError(MailbillError):
    """The outbox refused an operation."""


class ItemNotFoundError(OutboxError, LookupError):
    """No outbox item has the given id or business key."""


class InvalidTransitionError(OutboxError):
    """A status change that the outbox's state machine does not allow."""
