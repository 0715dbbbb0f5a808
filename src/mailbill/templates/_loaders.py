"""Where template texts come from: a directory, a mapping, or the host's own storage."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from mailbill.errors import ConfigurationError, TemplateError, TemplateSecurityError
from mailbill.templates._languages import normalize_language

__all__ = [
    "DirectoryLoader",
    "ListableTemplateLoader",
    "MappingLoader",
    "TemplateLoader",
    "TemplateSource",
    "validate_kind",
]

logger = logging.getLogger(__name__)

# A kind is a plain name: no dots or slashes, so it can never leave a loader's directory.
_KIND = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def validate_kind(kind: str) -> str:
    """Return ``kind`` if it is a valid document kind name.

    Raises:
        ConfigurationError: It is empty, too long, or has characters other than letters, digits,
            ``-`` and ``_``.
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ConfigurationError(
            f"not a template kind: {kind!r} (letters, digits, '-' and '_' only, at most 64)"
        )
    return kind


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """The texts of one template (one kind in one language), before rendering.

    Attributes:
        subject: The subject template; it must render to one line.
        text: The plain-text body template, if any.
        html: The HTML body template, if any (rendered with autoescaping).
        origin: Where it came from, for messages (a path, a database key); never a secret.
    """

    subject: str
    text: str | None = None
    html: str | None = None
    origin: str = ""

    def __post_init__(self) -> None:
        if self.text is None and self.html is None:
            raise TemplateError(f"a template needs a text or an HTML body: {self.origin or 'template'}")


@runtime_checkable
class TemplateLoader(Protocol):
    """Loads one template by kind and language; write one to read templates from a database.

    A loader for a host that keeps templates per tenant::

        class TenantLoader:
            def __init__(self, db, tenant_id):
                self.db, self.tenant_id = db, tenant_id

            def load(self, kind, language):
                row = self.db.fetch_template(self.tenant_id, kind, language)
                if row is None:
                    return None
                return TemplateSource(row.subject, text=row.body, html=row.body_html,
                                      origin=f"tenant {self.tenant_id}: {kind}/{language}")
    """

    def load(self, kind: str, language: str) -> TemplateSource | None:
        """Return the template of ``kind`` in exactly ``language``, or ``None`` if there is none.

        Args:
            kind: A validated kind name.
            language: A normalised tag (``"sv_SE"``, ``"de"``); do not fall back here, the
                :class:`~mailbill.Templates` set does that.
        """
        ...


@runtime_checkable
class ListableTemplateLoader(TemplateLoader, Protocol):
    """A loader that can also list what it holds, which :meth:`Templates.check` needs."""

    def templates(self) -> Iterable[tuple[str, str]]:
        """Return every ``(kind, language)`` pair the loader holds (normalised language tags)."""
        ...


class MappingLoader:
    """Templates held in memory, keyed by ``(kind, language)``.

    Example::

        MappingLoader({
            ("invoice", "sv"): {"subject": "Faktura {{ number }}", "text": "Hej {{ name }}!"},
            ("invoice", "en"): TemplateSource("Invoice {{ number }}", text="Hello {{ name }}!"),
        })

    Args:
        templates: Each value is a :class:`TemplateSource` or a mapping with ``"subject"`` and at
            least one of ``"text"`` and ``"html"``. Language keys are normalised (``"sv-se"`` works).

    Raises:
        ConfigurationError: A key is not a valid kind or language, two keys name the same
            template, or a value has unknown or missing parts.
    """

    def __init__(self, templates: Mapping[tuple[str, str], TemplateSource | Mapping[str, str | None]], /):
        self._templates: dict[tuple[str, str], TemplateSource] = {}
        for (kind, language), value in templates.items():
            key = (validate_kind(kind), normalize_language(language))
            if key in self._templates:
                raise ConfigurationError(f"template {kind}/{language} is given twice")
            self._templates[key] = _as_source(value, f"{key[0]}/{key[1]}")

    def load(self, kind: str, language: str) -> TemplateSource | None:
        """Return the template for exactly this kind and language, or ``None``."""
        return self._templates.get((kind, language))

    def templates(self) -> Iterable[tuple[str, str]]:
        """Return every ``(kind, language)`` pair held."""
        return sorted(self._templates)


def _as_source(value: TemplateSource | Mapping[str, str | None], origin: str) -> TemplateSource:
    if isinstance(value, TemplateSource):
        return value
    unknown = set(value) - {"subject", "text", "html"}
    if unknown:
        raise ConfigurationError(f"{origin}: unknown template parts {sorted(unknown)}")
    subject = value.get("subject")
    if not isinstance(subject, str):
        raise ConfigurationError(f"{origin}: a template needs a 'subject' string")
    try:
        return TemplateSource(subject, text=value.get("text"), html=value.get("html"), origin=origin)
    except TemplateError as exc:
        raise ConfigurationError(str(exc)) from None


class DirectoryLoader:
    """Templates in a directory tree: ``<root>/<kind>/<language>/subject.txt, body.txt, body.html``.

    Language directories may be named in any case or separator (``sv_SE``, ``sv-se``). A template
    needs ``subject.txt`` and at least one of ``body.txt`` and ``body.html``; files are UTF-8. The
    kind and language are validated before any path is built, and the resolved path must stay
    under the root, so a crafted kind, language or symlink cannot read other files.

    Args:
        root: The directory holding one subdirectory per kind.
        max_file_bytes: A larger file is refused with :class:`~mailbill.TemplateSecurityError`.

    Raises:
        ConfigurationError: ``root`` is not a directory.
    """

    SUBJECT = "subject.txt"
    TEXT = "body.txt"
    HTML = "body.html"

    def __init__(self, root: str | Path, /, *, max_file_bytes: int = 1_000_000) -> None:
        self._root = Path(root).resolve()
        if not self._root.is_dir():
            raise ConfigurationError(f"template directory does not exist: {root}")
        self._max_file_bytes = max_file_bytes

    def __repr__(self) -> str:
        return f"DirectoryLoader({str(self._root)!r})"

    def load(self, kind: str, language: str) -> TemplateSource | None:
        """Return the template for exactly this kind and language, or ``None``.

        Raises:
            ConfigurationError: ``kind`` or ``language`` is not a valid name.
            TemplateError: The directory exists but has no subject or no body, or a file is not UTF-8.
            TemplateSecurityError: A file is too large or lies outside the root.
        """
        directory = self._language_dir(validate_kind(kind), normalize_language(language))
        if directory is None:
            return None
        subject = self._read(directory / self.SUBJECT)
        text = self._read(directory / self.TEXT)
        html = self._read(directory / self.HTML)
        origin = f"{kind}/{directory.name}"
        if subject is None:
            raise TemplateError(f"{origin}: {self.SUBJECT} is missing", template=origin)
        if text is None and html is None:
            raise TemplateError(f"{origin}: needs {self.TEXT} or {self.HTML}", template=origin)
        # Editors add a final newline; a subject is one line, so it goes.
        return TemplateSource(subject.rstrip("\r\n"), text=text, html=html, origin=origin)

    def templates(self) -> Iterable[tuple[str, str]]:
        """Return every ``(kind, language)`` pair found under the root (others are logged, skipped)."""
        found: list[tuple[str, str]] = []
        for kind_dir in sorted(self._root.iterdir()):
            if not kind_dir.is_dir() or not _KIND.fullmatch(kind_dir.name):
                continue
            for language_dir in sorted(kind_dir.iterdir()):
                if not language_dir.is_dir():
                    continue
                try:
                    found.append((kind_dir.name, normalize_language(language_dir.name)))
                except ConfigurationError:
                    logger.warning("skipping %s: not a language tag", language_dir)
        return found

    def _language_dir(self, kind: str, language: str) -> Path | None:
        kind_dir = self._root / kind
        if not kind_dir.is_dir():
            return None
        for candidate in sorted(kind_dir.iterdir()):
            try:
                matches = candidate.is_dir() and normalize_language(candidate.name) == language
            except ConfigurationError:
                continue
            if matches:
                return self._inside_root(candidate)
        return None

    def _inside_root(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root):
            raise TemplateSecurityError(f"{path} points outside the template directory", template=str(path))
        return resolved

    def _read(self, path: Path) -> str | None:
        if not path.is_file():
            return None
        path = self._inside_root(path)
        if path.stat().st_size > self._max_file_bytes:
            raise TemplateSecurityError(
                f"{path.name} is larger than {self._max_file_bytes} bytes", template=str(path)
            )
        try:
            return path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{path} is not UTF-8: {exc}", template=str(path)) from None
