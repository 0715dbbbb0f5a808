"""OutlookTransport: hand messages to the Outlook desktop application through COM (pywin32)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mailbill._models import Attachment, OutgoingMessage, SendReceipt
from mailbill.errors import (
    ConfigurationError,
    DeliveryError,
    MailbillError,
    MissingDependencyError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from mailbill.transports.base import BaseTransport, Capabilities

__all__ = ["OutlookBinding", "OutlookTransport"]

logger = logging.getLogger(__name__)

# Outlook object model constants (OlItemType, OlMailRecipientType, OlBodyFormat).
OL_MAIL_ITEM = 0
OL_TO, OL_CC, OL_BCC = 1, 2, 3
OL_FORMAT_HTML = 2
PR_ATTACH_CONTENT_ID = "http://schemas.microsoft.com/mapi/proptag/0x3712001F"

# HRESULTs that mean "Outlook is not there": fix the setup.
_NOT_INSTALLED = {-2147221005, -2147221164}  # CO_E_CLASSSTRING, REGDB_E_CLASSNOTREG
# HRESULTs that mean "Outlook is busy, starting or gone": try again later.
_TRANSIENT = {
    -2147418111,  # RPC_E_CALL_REJECTED
    -2147417846,  # RPC_E_SERVERCALL_RETRYLATER
    -2147023174,  # RPC_S_SERVER_UNAVAILABLE
    -2147023170,  # RPC_S_CALL_FAILED
    -2146959355,  # CO_E_SERVER_EXEC_FAILURE
    -2147417848,  # RPC_E_DISCONNECTED
    -2147467260,  # E_ABORT
}
_WINDOWS_UNSAFE = str.maketrans(dict.fromkeys('<>:"/\\|?*', "_"))


@dataclass(frozen=True, slots=True)
class OutlookBinding:
    """How :class:`OutlookTransport` reaches Outlook: pywin32 by default, a fake in tests.

    Attributes:
        dispatch: Returns the ``Outlook.Application`` object (``win32com.client.Dispatch``).
        initialize: Initialises COM in the calling thread (``pythoncom.CoInitialize``).
        uninitialize: Releases COM in the calling thread (``pythoncom.CoUninitialize``).
        com_error: The exception class COM calls raise (``pywintypes.com_error``).
    """

    dispatch: Callable[[], Any]
    initialize: Callable[[], None]
    uninitialize: Callable[[], None]
    com_error: type[BaseException]


def pywin32_binding() -> OutlookBinding:
    """The real binding, importing pywin32 on first use.

    Raises:
        MissingDependencyError: pywin32 is not installed (extra ``outlook``).
    """
    try:
        import pythoncom
        import pywintypes
        import win32com.client
    except ImportError as exc:
        raise MissingDependencyError(
            "OutlookTransport needs pywin32 (Windows only)", extra="outlook"
        ) from exc
    return OutlookBinding(
        dispatch=lambda: win32com.client.Dispatch("Outlook.Application"),
        initialize=pythoncom.CoInitialize,
        uninitialize=pythoncom.CoUninitialize,
        com_error=pywintypes.com_error,
    )


def _hresult(exc: BaseException) -> int | None:
    code = getattr(exc, "hresult", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    return code if isinstance(code, int) else None


def _describe(exc: BaseException) -> str:
    # pywintypes.com_error args: (hresult, strerror, excepinfo, argerror); excepinfo[2] is Outlook's text.
    args = exc.args
    text = args[1] if len(args) > 1 and args[1] else str(exc)
    if len(args) > 2 and isinstance(args[2], tuple) and len(args[2]) > 2 and args[2][2]:
        text = f"{text}: {args[2][2]}"
    return str(text)


class OutlookTransport(BaseTransport):
    """Create each message as an Outlook mail item, then send it or save it as a draft.

    Outlook sends from its Outbox on its own schedule, so a receipt only says the
    message was handed off (``handed_off=True``). Outlook composes the message
    itself from the fields (subject, body, recipients, attachments): custom headers
    and the Message-ID are not carried.

    COM is initialised in each thread that uses the transport; call :meth:`close`
    in that thread when done (a ``with`` block does it).

    Example:
        >>> with OutlookTransport(account="billing@example.com", mode="draft") as outlook:  # doctest: +SKIP
        ...     outlook.send(message)

    Args:
        mode: ``"send"`` puts the item in the Outbox; ``"draft"`` saves it in Drafts
            for a person to check and send.
        account: The SMTP address of the Outlook account to send from; Outlook's
            default account when ``None``.
        on_behalf_of: A mailbox to send on behalf of (``SentOnBehalfOfName``).
        name: The transport's name in receipts and logs.
        outlook_factory: Returns the :class:`OutlookBinding`; pywin32 by default.
            Tests pass :meth:`mailbill.testing.FakeOutlook.binding`.

    Raises:
        ConfigurationError: ``mode`` is not ``"send"`` or ``"draft"``.
    """

    capabilities = Capabilities(inline_images=True, delivers=False, preserves_bytes=False)

    def __init__(
        self,
        *,
        mode: Literal["send", "draft"] = "send",
        account: str | None = None,
        on_behalf_of: str | None = None,
        name: str = "outlook",
        outlook_factory: Callable[[], OutlookBinding] = pywin32_binding,
    ) -> None:
        if mode not in ("send", "draft"):
            raise ConfigurationError(f"Outlook mode must be 'send' or 'draft', not {mode!r}")
        self.mode = mode
        self.account = account
        self.on_behalf_of = on_behalf_of
        self.name = name
        self._factory = outlook_factory
        self._binding: OutlookBinding | None = None
        self._local = threading.local()  # COM objects belong to the thread that made them

    def open(self) -> None:
        """Load pywin32, initialise COM in this thread and connect to Outlook.

        Raises:
            MissingDependencyError: pywin32 is not installed.
            ConfigurationError: Outlook is not installed, or the account does not exist.
            TransientDeliveryError: Outlook did not answer (busy or starting).
        """
        self._application()

    def close(self) -> None:
        """Release this thread's connection to Outlook and uninitialise COM in it."""
        app = getattr(self._local, "app", None)
        if app is None:
            return
        self._local.app = None
        self._local.account = None
        assert self._binding is not None
        self._binding.uninitialize()

    def _application(self) -> Any:
        app = getattr(self._local, "app", None)
        if app is not None:
            return app
        if self._binding is None:
            self._binding = self._factory()
        binding = self._binding
        binding.initialize()
        try:
            try:
                app = binding.dispatch()
            except binding.com_error as exc:
                if _hresult(exc) in _NOT_INSTALLED:
                    raise ConfigurationError("Outlook is not installed on this computer") from exc
                raise self._error(exc, "starting Outlook") from exc
            with self._com("looking up the account"):
                account = self._find_account(app) if self.account else None
        except BaseException:
            binding.uninitialize()
            raise
        self._local.app = app
        self._local.account = account
        return app

    def _find_account(self, app: Any) -> Any:
        accounts = app.Session.Accounts
        found = []
        for index in range(1, accounts.Count + 1):  # COM collections count from 1
            account = accounts.Item(index)
            if str(account.SmtpAddress).lower() == str(self.account).lower():
                return account
            found.append(str(account.SmtpAddress))
        raise ConfigurationError(
            f"Outlook has no account {self.account!r}; its accounts are: {', '.join(found) or 'none'}"
        )

    def _error(self, exc: BaseException, during: str) -> DeliveryError:
        code = _hresult(exc)
        text = f"Outlook, {during}: {_describe(exc)} (HRESULT {code})"
        if code in _TRANSIENT:
            self.close()  # Outlook went away or is busy: connect afresh next time
            return TransientDeliveryError(text, server_text=_describe(exc))
        return PermanentDeliveryError(text, server_text=_describe(exc))

    @contextmanager
    def _com(self, during: str) -> Iterator[None]:
        assert self._binding is not None
        try:
            yield
        except MailbillError:
            raise
        except self._binding.com_error as exc:
            raise self._error(exc, during) from exc

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Create a mail item from ``message`` and send it (or save it as a draft).

        Returns:
            A receipt with ``handed_off=True`` and ``location`` ``"Outbox"`` or ``"Drafts"``.

        Raises:
            PermanentDeliveryError: Outlook cannot resolve a recipient or refused the item.
            TransientDeliveryError: Outlook is busy, starting or went away.
            ConfigurationError: pywin32 or Outlook is missing, or the account does not exist.
        """
        app = self._application()
        workdir = Path(tempfile.mkdtemp(prefix="mailbill-outlook-"))
        try:
            with self._com("creating the mail item"):
                item = app.CreateItem(OL_MAIL_ITEM)
                self._fill(item, message, workdir)
            with self._com("resolving recipients"):
                if not item.Recipients.ResolveAll():
                    unresolved = [
                        str(item.Recipients.Item(i).Name)
                        for i in range(1, item.Recipients.Count + 1)
                        if not item.Recipients.Item(i).Resolved
                    ]
                    raise PermanentDeliveryError(
                        f"Outlook cannot resolve recipients: {', '.join(unresolved)}"
                    )
            with self._com("sending" if self.mode == "send" else "saving the draft"):
                if self.mode == "send":
                    item.Send()
                else:
                    item.Save()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        location = "Outbox" if self.mode == "send" else "Drafts"
        logger.debug("handed %s to Outlook (%s)", message.message_id, location)
        return SendReceipt(
            message_id=message.message_id,
            transport=self.name,
            accepted=message.recipients,
            handed_off=True,
            location=location,
        )

    def _fill(self, item: Any, message: OutgoingMessage, workdir: Path) -> None:
        item.Subject = message.subject
        if message.html is not None:
            item.BodyFormat = OL_FORMAT_HTML
            item.HTMLBody = message.html
        else:
            item.Body = message.text or ""
        for kind, addresses in ((OL_TO, message.to), (OL_CC, message.cc), (OL_BCC, message.bcc)):
            for address in addresses:
                recipient = item.Recipients.Add(str(address))
                recipient.Type = kind
        for address in message.reply_to:
            item.ReplyRecipients.Add(str(address))
        account = getattr(self._local, "account", None)
        if account is not None:
            item.SendUsingAccount = account
        if self.on_behalf_of:
            item.SentOnBehalfOfName = self.on_behalf_of
        for position, attachment in enumerate(message.attachments, start=1):
            self._attach(item, attachment, workdir / str(position))

    @staticmethod
    def _attach(item: Any, attachment: Attachment, folder: Path) -> None:
        # Outlook attaches from a file: one private subfolder each, so equal names cannot clash.
        folder.mkdir()
        path = folder / attachment.filename.translate(_WINDOWS_UNSAFE)
        path.write_bytes(attachment.content)
        # Only Source is passed: optional COM arguments by position are fragile in late binding.
        added = item.Attachments.Add(str(path))
        if attachment.inline and attachment.content_id:
            added.PropertyAccessor.SetProperty(PR_ATTACH_CONTENT_ID, attachment.content_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} mode={self.mode!r} account={self.account!r}>"
