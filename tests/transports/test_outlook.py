"""OutlookTransport through its real code path, against FakeOutlook (the documented object model)."""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import pytest
from transport_support import make_message

from mailbill import (
    Address,
    Attachment,
    ConfigurationError,
    MissingDependencyError,
    OutgoingMessage,
    OutlookTransport,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from mailbill.testing import FakeComError, FakeOutlook
from mailbill.transports.outlook import PR_ATTACH_CONTENT_ID, pywin32_binding


def outlook_transport(fake: FakeOutlook, **options: object) -> OutlookTransport:
    """An OutlookTransport bound to ``fake``."""
    return OutlookTransport(outlook_factory=fake.binding, **options)  # type: ignore[arg-type]


def test_send_uses_the_chosen_account_and_on_behalf(message: OutgoingMessage) -> None:
    """This test ensures that the account is chosen by SMTP address and SentOnBehalfOfName is set."""
    fake = FakeOutlook(accounts=["private@example.com", "Billing@Example.com"])
    with outlook_transport(fake, account="billing@example.com", on_behalf_of="Accounts Team") as outlook:
        receipt = outlook.send(message)
    [item] = fake.outbox
    assert item.SendUsingAccount is not None
    assert item.SendUsingAccount.SmtpAddress == "Billing@Example.com"
    assert item.SentOnBehalfOfName == "Accounts Team"
    assert (receipt.handed_off, receipt.location) == (True, "Outbox")
    assert fake.drafts == []


def test_draft_mode_saves_without_sending(message: OutgoingMessage) -> None:
    """This test ensures that mode='draft' saves the item to Drafts and never calls Send."""
    fake = FakeOutlook()
    with outlook_transport(fake, mode="draft") as outlook:
        receipt = outlook.send(message)
    assert fake.outbox == []
    assert len(fake.drafts) == 1
    assert receipt.location == "Drafts"


def test_recipient_types_reply_to_and_text_body() -> None:
    """This test ensures that To/Cc/Bcc get Outlook types, Reply-To is set, a text body stays text."""
    message = make_message(
        bcc=Address.parse_list("archive@example.com"),
        reply_to=Address.parse_list("Buchhaltung <buchhaltung@example.com>"),
        html=None,
    )
    fake = FakeOutlook()
    with outlook_transport(fake) as outlook:
        outlook.send(message)
    [item] = fake.outbox
    kinds = [(item.Recipients.Item(i).Name, item.Recipients.Item(i).Type) for i in range(1, 4)]
    assert kinds == [
        ("Zoë Ñúñez <zoe@example.org>", 1),
        ("accounts@example.net", 2),
        ("archive@example.com", 3),
    ]
    assert item.ReplyRecipients.Item(1).Name == "Buchhaltung <buchhaltung@example.com>"
    assert item.BodyFormat == 1
    assert item.Body == message.text


def test_inline_image_gets_its_content_id() -> None:
    """This test ensures that an inline image is attached with its Content-ID for cid: references."""
    logo = Attachment.from_bytes(
        b"\x89PNG\r\n\x1a\nfake", "logo.png", inline=True, content_id="logo@example.com"
    )
    message = make_message(html='<img src="cid:logo@example.com">', attachments=(logo,))
    fake = FakeOutlook()
    with outlook_transport(fake) as outlook:
        outlook.send(message)
    attachment = fake.outbox[0].Attachments.Item(1)
    assert attachment.PropertyAccessor.GetProperty(PR_ATTACH_CONTENT_ID) == "logo@example.com"


def test_attachment_files_are_cleaned_up(message: OutgoingMessage) -> None:
    """This test ensures that the temporary attachment files are removed after sending and after failure."""
    before = set(Path(tempfile.gettempdir()).glob("mailbill-outlook-*"))
    fake = FakeOutlook(unresolvable={"zoe@"})
    with outlook_transport(fake) as outlook:
        with pytest.raises(PermanentDeliveryError, match="cannot resolve"):
            outlook.send(message)
        fake.unresolvable = frozenset()
        outlook.send(make_message())
    assert set(Path(tempfile.gettempdir()).glob("mailbill-outlook-*")) == before
    assert fake.outbox[0].Attachments.Count == 2


def test_unresolvable_recipient_is_permanent(message: OutgoingMessage) -> None:
    """This test ensures that a recipient Outlook cannot resolve fails the message, naming it."""
    fake = FakeOutlook(unresolvable={"accounts@example.net"})
    with outlook_transport(fake) as outlook, pytest.raises(PermanentDeliveryError, match="accounts@example"):
        outlook.send(message)
    assert fake.outbox == []


def test_account_not_found_names_the_accounts(message: OutgoingMessage) -> None:
    """This test ensures that an unknown account is a ConfigurationError listing what Outlook has."""
    fake = FakeOutlook(accounts=["a@example.com", "b@example.com"])
    with pytest.raises(ConfigurationError, match=r"'billing@example.com'.*a@example.com, b@example.com"):
        outlook_transport(fake, account="billing@example.com").open()
    assert all(count == 0 for count in fake.initialized_threads.values())


def test_outlook_not_installed(message: OutgoingMessage) -> None:
    """This test ensures that a machine without Outlook gives a ConfigurationError saying so."""
    fake = FakeOutlook(installed=False)
    with pytest.raises(ConfigurationError, match="not installed"):
        outlook_transport(fake).send(message)


@pytest.mark.skipif(sys.platform == "win32", reason="pywin32 may be installed on Windows")
def test_missing_pywin32_names_the_extra(message: OutgoingMessage) -> None:
    """This test ensures that without pywin32 the error says to install mailbill[outlook]."""
    with pytest.raises(MissingDependencyError, match=r"mailbill\[outlook\]") as info:
        pywin32_binding()
    assert info.value.extra == "outlook"
    with pytest.raises(MissingDependencyError):
        OutlookTransport().send(message)


@pytest.mark.parametrize(
    ("hresult", "error"),
    [
        (-2147418111, TransientDeliveryError),  # RPC_E_CALL_REJECTED: Outlook busy
        (-2147023174, TransientDeliveryError),  # RPC server unavailable: Outlook closed
        (-2147352567, PermanentDeliveryError),  # DISP_E_EXCEPTION from Outlook
    ],
)
def test_com_errors_are_mapped(message: OutgoingMessage, hresult: int, error: type[Exception]) -> None:
    """This test ensures that COM errors become transient or permanent errors, keeping the cause."""
    fake = FakeOutlook()
    fake.fail_next_send = FakeComError(
        hresult, "Call failed", (0, "Microsoft Outlook", "Outlook says no", None, 0, 0)
    )
    with outlook_transport(fake) as outlook:
        with pytest.raises(error, match=str(hresult)) as info:
            outlook.send(message)
        assert isinstance(info.value.__cause__, FakeComError)
        outlook.send(message)  # the transport recovers for the next message
    assert len(fake.outbox) == 1
    assert all(count == 0 for count in fake.initialized_threads.values())


def test_com_is_initialised_in_each_using_thread(message: OutgoingMessage) -> None:
    """This test ensures that COM is initialised in the thread that sends and released on close."""
    fake = FakeOutlook()
    transport = outlook_transport(fake)
    errors: list[BaseException] = []
    together = threading.Barrier(3, timeout=10)  # alive at once, so thread ids are distinct

    def worker() -> None:
        try:
            with transport:
                transport.send(message)
                together.wait()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake.outbox) == 3
    assert len(fake.initialized_threads) == 3
    assert all(count == 0 for count in fake.initialized_threads.values())


def test_invalid_mode() -> None:
    """This test ensures that an unknown mode is refused at construction."""
    with pytest.raises(ConfigurationError, match="'print'"):
        OutlookTransport(mode="print")  # type: ignore[arg-type]
