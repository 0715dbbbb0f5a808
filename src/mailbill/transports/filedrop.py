"""FileDropTransport: each message as an ``.eml`` file in a folder (a pickup directory)."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mailbill._models import OutgoingMessage, SendReceipt
from mailbill.errors import (
    AccountError,
    ConfigurationError,
    TransientDeliveryError,
    UnsupportedFeatureError,
)
from mailbill.transports.base import BaseTransport, Capabilities

__all__ = ["FileDropTransport"]

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FileDropTransport(BaseTransport):
    """Write each message as an ``.eml`` file into a folder, atomically.

    The file appears complete or not at all: it is written to a temporary file in
    the same folder, flushed to disk, then renamed, so a pickup program (IIS SMTP,
    Exchange, a scanner, an archive) never reads half a message. File names come
    from the time and a random UUID, never from the message.

    Example:
        >>> transport = FileDropTransport("/var/spool/mailbill", subfolders="%Y-%m-%d")  # doctest: +SKIP
        >>> transport.send(message).location  # doctest: +SKIP
        '/var/spool/mailbill/2026-11-24/20261124T081500123456Z-3f2a....eml'

    Args:
        directory: The folder to write into.
        iis_pickup: Put ``X-Sender``/``X-Receiver`` lines before the message, the
            format of the IIS SMTP and Exchange pickup folders (so Bcc recipients and
            the envelope sender are honoured). Without it a file has no envelope, so
            a message with Bcc recipients is refused rather than silently losing them.
        subfolders: A :func:`~datetime.datetime.strftime` pattern for subfolders by
            date (``"%Y/%m/%d"``); ``None`` writes into ``directory`` itself.
        create: Create the folder (and subfolders) when missing; when ``False`` a
            missing folder is a :class:`~mailbill.ConfigurationError`.
        file_mode: The permission bits of the files written (private by default).
        name: The transport's name in receipts and logs.
        clock: Returns the current UTC time; injectable for tests.

    Raises:
        ConfigurationError: the folder is missing (and ``create`` is false), is not a
            folder, or ``subfolders`` would leave it.
    """

    capabilities = Capabilities(delivers=False)

    def __init__(
        self,
        directory: str | os.PathLike[str],
        /,
        *,
        iis_pickup: bool = False,
        subfolders: str | None = None,
        create: bool = True,
        file_mode: int = 0o600,
        name: str = "file",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigurationError(f"file drop: {str(self.directory)!r} is not a folder")
        if not self.directory.exists():
            if not create:
                raise ConfigurationError(f"file drop: folder {str(self.directory)!r} does not exist")
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError(f"file drop: cannot create {str(self.directory)!r}: {exc}") from exc
        if subfolders is not None:
            sample = Path(datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC).strftime(subfolders))
            if not subfolders or sample.is_absolute() or ".." in sample.parts:
                raise ConfigurationError(f"file drop: subfolders pattern {subfolders!r} must stay inside")
        self.iis_pickup = iis_pickup
        self.capabilities = Capabilities(bcc=iis_pickup, delivers=False)
        self.subfolders = subfolders
        self.create = create
        self.file_mode = file_mode
        self.name = name
        self._clock = clock

    def send(self, message: OutgoingMessage, /) -> SendReceipt:
        """Write ``message`` to a new file and return a receipt naming it.

        Returns:
            A receipt with ``handed_off=True`` and ``location`` set to the file's path.

        Raises:
            UnsupportedFeatureError: the message has Bcc recipients and ``iis_pickup`` is off.
            AccountError: the folder cannot be written to (permissions).
            TransientDeliveryError: another I/O error (a full disk, a network share gone).
        """
        if message.bcc and not self.capabilities.bcc:
            raise UnsupportedFeatureError(
                f"{self.name}: a plain .eml file cannot carry Bcc recipients; use iis_pickup=True"
            )
        now = self._clock()
        folder = self.directory / now.strftime(self.subfolders) if self.subfolders else self.directory
        final = folder / f"{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex}.eml"
        data = self._envelope_lines(message) + message.as_bytes()
        try:
            if folder != self.directory:
                folder.mkdir(parents=True, exist_ok=True)
            self._write_atomically(folder, final, data)
        except PermissionError as exc:
            raise AccountError(f"file drop: cannot write to {str(folder)!r}: {exc}") from exc
        except OSError as exc:
            raise TransientDeliveryError(f"file drop: writing to {str(folder)!r} failed: {exc}") from exc
        logger.debug("wrote %s (%d bytes)", final, len(data))
        return SendReceipt(
            message_id=message.message_id,
            transport=self.name,
            accepted=message.recipients,
            handed_off=True,
            location=str(final),
        )

    def _envelope_lines(self, message: OutgoingMessage) -> bytes:
        if not self.iis_pickup:
            return b""
        lines = [f"X-Sender: {message.mail_from}\r\n"]
        lines.extend(f"X-Receiver: {rcpt}\r\n" for rcpt in message.recipients)
        return "".join(lines).encode("utf-8")

    def _write_atomically(self, folder: Path, final: Path, data: bytes) -> None:
        # The temporary name does not end in .eml, so a pickup service ignores it.
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".mailbill-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(self.file_mode)
            tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(folder)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} directory={str(self.directory)!r}>"


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable; not possible (nor needed) on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
