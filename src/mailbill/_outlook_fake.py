# The names below are Outlook's own (Count, Item, Add, Send, Source, ...): keep them.
# ruff: noqa: N802, N803
"""A fake of the Outlook object model, faithful to the documented parts OutlookTransport uses.

It behaves like Outlook where it matters to a caller: COM must be initialised in
the calling thread, ``CreateItem`` only makes mail items for type 0, collections
count from 1, ``Attachments.Add`` reads the file at once (so it may be deleted
afterwards), an item cannot be touched after ``Send``, and errors are raised as
a ``com_error`` with ``(hresult, text, excepinfo, argerror)`` like pywin32's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailbill.transports.outlook import OutlookBinding

__all__ = ["FakeAccount", "FakeComError", "FakeMailItem", "FakeOutlook"]

_CO_E_NOTINITIALIZED = -2147221008
_DISP_E_EXCEPTION = -2147352567
_E_INVALIDARG = -2147024809


class FakeComError(Exception):
    """Stands in for ``pywintypes.com_error``: ``args == (hresult, strerror, excepinfo, argerror)``."""

    def __init__(self, hresult: int, strerror: str, excepinfo: tuple[Any, ...] | None = None) -> None:
        super().__init__(hresult, strerror, excepinfo, None)
        self.hresult = hresult
        self.strerror = strerror
        self.excepinfo = excepinfo


def outlook_error(text: str) -> FakeComError:
    """A COM error as Outlook raises it from a method (DISP_E_EXCEPTION with Outlook's text)."""
    return FakeComError(
        _DISP_E_EXCEPTION, "Exception occurred.", (4096, "Microsoft Outlook", text, None, 0, 0)
    )


@dataclass
class FakeAccount:
    """An Outlook account (``Namespace.Accounts`` item)."""

    SmtpAddress: str
    DisplayName: str = ""
    UserName: str = ""


class _Collection:
    def __init__(self) -> None:
        self._items: list[Any] = []

    @property
    def Count(self) -> int:
        return len(self._items)

    def Item(self, index: int) -> Any:
        if not 1 <= index <= len(self._items):
            raise FakeComError(_E_INVALIDARG, "Array index out of bounds.")
        return self._items[index - 1]

    def __iter__(self) -> Any:
        return iter(list(self._items))


@dataclass
class FakeRecipient:
    """A recipient of a mail item; ``Type`` 1 To, 2 Cc, 3 Bcc."""

    Name: str
    Type: int = 1
    Resolved: bool = False


class _Recipients(_Collection):
    def __init__(self, unresolvable: frozenset[str]) -> None:
        super().__init__()
        self._unresolvable = unresolvable

    def Add(self, name: str) -> FakeRecipient:
        if not name:
            raise outlook_error("The name is empty.")
        recipient = FakeRecipient(name)
        self._items.append(recipient)
        return recipient

    def ResolveAll(self) -> bool:
        for recipient in self._items:
            recipient.Resolved = not any(u in recipient.Name for u in self._unresolvable)
        return all(r.Resolved for r in self._items)


class _PropertyAccessor:
    def __init__(self) -> None:
        self.properties: dict[str, Any] = {}

    def SetProperty(self, schema: str, value: Any) -> None:
        self.properties[schema] = value

    def GetProperty(self, schema: str) -> Any:
        return self.properties[schema]


@dataclass
class FakeAttachment:
    """An attachment: the content was read from ``Source`` when it was added."""

    FileName: str
    content: bytes
    DisplayName: str
    PropertyAccessor: _PropertyAccessor = field(default_factory=_PropertyAccessor)


class _Attachments(_Collection):
    def Add(
        self, Source: str, Type: int = 1, Position: Any = None, DisplayName: Any = None
    ) -> FakeAttachment:
        path = Path(Source)
        if Type != 1:
            raise FakeComError(_E_INVALIDARG, "Only olByValue is supported by the fake.")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise outlook_error(
                f"Cannot find this file. Verify the path and file name are correct. ({exc})"
            ) from exc
        attachment = FakeAttachment(path.name, content, DisplayName or path.name)
        self._items.append(attachment)
        return attachment


class FakeMailItem:
    """A MailItem: the properties OutlookTransport sets, and ``Send``/``Save``."""

    _outlook: FakeOutlook
    _gone: bool

    def __init__(self, outlook: FakeOutlook) -> None:
        object.__setattr__(self, "_outlook", outlook)
        object.__setattr__(self, "_gone", False)
        self.Subject = ""
        self.Body = ""
        self.HTMLBody = ""
        self.BodyFormat = 1
        self.Recipients = _Recipients(outlook.unresolvable)
        self.ReplyRecipients = _Recipients(frozenset())
        self.Attachments = _Attachments()
        self.SendUsingAccount: FakeAccount | None = None
        self.SentOnBehalfOfName = ""
        self.PropertyAccessor = _PropertyAccessor()

    def __setattr__(self, name: str, value: Any) -> None:
        if self._gone:
            raise outlook_error("The item has been moved or deleted.")
        object.__setattr__(self, name, value)

    def Send(self) -> None:
        if self._gone:
            raise outlook_error("The item has been moved or deleted.")
        if self.Recipients.Count == 0:
            raise outlook_error("There must be at least one name or contact group in the To, Cc, or Bcc box.")
        failure = self._outlook.fail_next_send
        if failure is not None:
            self._outlook.fail_next_send = None
            raise failure
        object.__setattr__(self, "_gone", True)
        self._outlook.outbox.append(self)

    def Save(self) -> None:
        if self._gone:
            raise outlook_error("The item has been moved or deleted.")
        self._outlook.drafts.append(self)


class _Namespace:
    def __init__(self, accounts: list[FakeAccount]) -> None:
        self.Accounts = _Collection()
        self.Accounts._items.extend(accounts)


class _Application:
    def __init__(self, outlook: FakeOutlook) -> None:
        self._outlook = outlook
        self.Session = _Namespace(outlook.accounts)

    def CreateItem(self, item_type: int) -> FakeMailItem:
        self._outlook._check_thread()
        if item_type != 0:
            raise FakeComError(_E_INVALIDARG, "The fake only creates mail items (olMailItem = 0).")
        return FakeMailItem(self._outlook)


class FakeOutlook:
    """A stand-in for Outlook: pass :meth:`binding` as ``OutlookTransport(outlook_factory=...)``.

    Example:
        >>> from mailbill import OutlookTransport
        >>> outlook = FakeOutlook(accounts=["billing@example.com"])
        >>> transport = OutlookTransport(account="billing@example.com", outlook_factory=outlook.binding)

    Args:
        accounts: The SMTP addresses of the accounts Outlook has.
        installed: ``False`` makes starting Outlook fail as on a machine without it.
        unresolvable: Recipients (substrings) that ``ResolveAll`` cannot resolve.

    Attributes:
        outbox: Items sent, in order.
        drafts: Items saved as drafts, in order.
        fail_next_send: An exception the next ``Send`` raises (then cleared).
        initialized_threads: How many times each thread initialised COM (by thread id).
        applications: How many times ``Outlook.Application`` was dispatched.
    """

    def __init__(
        self,
        *,
        accounts: list[str] | tuple[str, ...] = ("billing@example.com",),
        installed: bool = True,
        unresolvable: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self.accounts = [FakeAccount(a, DisplayName=a, UserName=a.partition("@")[0]) for a in accounts]
        self.installed = installed
        self.unresolvable = frozenset(unresolvable)
        self.outbox: list[FakeMailItem] = []
        self.drafts: list[FakeMailItem] = []
        self.fail_next_send: BaseException | None = None
        self.initialized_threads: dict[int, int] = {}
        self.applications = 0
        self._lock = threading.Lock()

    def _initialize(self) -> None:
        with self._lock:
            ident = threading.get_ident()
            self.initialized_threads[ident] = self.initialized_threads.get(ident, 0) + 1

    def _uninitialize(self) -> None:
        with self._lock:
            ident = threading.get_ident()
            self.initialized_threads[ident] = self.initialized_threads.get(ident, 0) - 1

    def _check_thread(self) -> None:
        with self._lock:
            if self.initialized_threads.get(threading.get_ident(), 0) <= 0:
                raise FakeComError(_CO_E_NOTINITIALIZED, "CoInitialize has not been called.")

    def _dispatch(self) -> _Application:
        self._check_thread()
        if not self.installed:
            raise FakeComError(-2147221005, "Invalid class string")
        with self._lock:
            self.applications += 1
        return _Application(self)

    def binding(self) -> OutlookBinding:
        """The binding to give ``OutlookTransport(outlook_factory=fake.binding)``."""
        return OutlookBinding(
            dispatch=self._dispatch,
            initialize=self._initialize,
            uninitialize=self._uninitialize,
            com_error=FakeComError,
        )
