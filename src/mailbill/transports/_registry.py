"""Transports by URL: an explicit table of schemes, plus the ``mailbill.transports`` entry points.

Built in::

    smtp://user@host:587?security=starttls     SMTPTransport (password via keyword or URL)
    smtps://user@host                          SMTPTransport with implicit TLS (port 465)
    file:///var/spool/pickup?iis_pickup=true   FileDropTransport
    outlook:?mode=draft&account=a@example.com  OutlookTransport
    memory:                                    MemoryTransport

A third-party package adds a scheme with an entry point in the group
``mailbill.transports`` whose name is the scheme and whose object is a callable
``factory(url: str, /, **options) -> BaseTransport``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.request import url2pathname

from mailbill.errors import ConfigurationError
from mailbill.transports.base import BaseTransport

__all__ = ["ENTRY_POINT_GROUP", "mask_url", "transport_from_url"]

#: The entry-point group third-party transports register under (name = URL scheme).
ENTRY_POINT_GROUP = "mailbill.transports"

_Factory = Callable[..., BaseTransport]
_Converter = Callable[[str, str], Any]


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for logs and error messages).

    Example:
        >>> mask_url("smtp://billing:hunter2@mail.example.com:587")
        'smtp://billing:***@mail.example.com:587'
    """
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/?#:@]*):[^/?#@]*@", r"\1:***@", url)


def _text(key: str, value: str) -> str:
    return value


def _bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"option {key!r} must be true or false, not {value!r}")


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"option {key!r} must be a whole number, not {value!r}") from None


def _float(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"option {key!r} must be a number, not {value!r}") from None


_SMTP_OPTIONS: Mapping[str, _Converter] = {
    "security": _text,
    "timeout": _float,
    "local_hostname": _text,
    "max_messages_per_connection": _int,
    "idle_check_after": _float,
    "allow_insecure_auth": _bool,
    "auth_mechanism": _text,
    "ca_file": _text,
    "client_cert": _text,
    "client_key": _text,
    "name": _text,
}
_FILE_OPTIONS: Mapping[str, _Converter] = {
    "iis_pickup": _bool,
    "subfolders": _text,
    "create": _bool,
    "name": _text,
}
_OUTLOOK_OPTIONS: Mapping[str, _Converter] = {
    "mode": _text,
    "account": _text,
    "on_behalf_of": _text,
    "name": _text,
}
_MEMORY_OPTIONS: Mapping[str, _Converter] = {"name": _text}


def _query(url: str, query: str, allowed: Mapping[str, _Converter]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigurationError(f"unknown option {key!r} in {mask_url(url)!r}; known options: {known}")
        if key in options:
            raise ConfigurationError(f"option {key!r} given twice in {mask_url(url)!r}")
        options[key] = allowed[key](key, value)
    return options


def _smtp(url: str, **overrides: Any) -> BaseTransport:
    from mailbill.transports.smtp import SMTPTransport

    parts = urlsplit(url)
    options = _query(url, parts.query, _SMTP_OPTIONS)
    if parts.scheme == "smtps" and options.setdefault("security", "tls") != "tls":
        raise ConfigurationError(
            f"smtps:// means implicit TLS; security={options['security']!r} contradicts it"
        )
    if not parts.hostname:
        raise ConfigurationError(f"{mask_url(url)!r} names no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{mask_url(url)!r}: {exc}") from None
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password is not None:
        options["password"] = unquote(parts.password)
    if port is not None:
        options["port"] = port
    options.update(overrides)
    return SMTPTransport(parts.hostname, **options)


def _file(url: str, **overrides: Any) -> BaseTransport:
    from mailbill.transports.filedrop import FileDropTransport

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigurationError(f"{url!r}: file URLs must name a local folder (file:///path)")
    if not parts.path:
        raise ConfigurationError(f"{url!r} names no folder")
    options = _query(url, parts.query, _FILE_OPTIONS)
    options.update(overrides)
    return FileDropTransport(url2pathname(parts.path), **options)


def _outlook(url: str, **overrides: Any) -> BaseTransport:
    from mailbill.transports.outlook import OutlookTransport

    parts = urlsplit(url)
    if parts.netloc or parts.path:
        raise ConfigurationError(f"{url!r}: write Outlook URLs as outlook:?mode=draft&account=...")
    options = _query(url, parts.query, _OUTLOOK_OPTIONS)
    options.update(overrides)
    return OutlookTransport(**options)


def _memory(url: str, **overrides: Any) -> BaseTransport:
    from mailbill.transports.memory import MemoryTransport

    parts = urlsplit(url)
    if parts.netloc or parts.path:
        raise ConfigurationError(f"{url!r}: write the memory URL as memory: (or memory:?name=...)")
    options = _query(url, parts.query, _MEMORY_OPTIONS)
    options.update(overrides)
    return MemoryTransport(**options)


_BUILTIN: Mapping[str, _Factory] = {
    "smtp": _smtp,
    "smtps": _smtp,
    "file": _file,
    "outlook": _outlook,
    "memory": _memory,
}


def _plugin(scheme: str) -> _Factory | None:
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=scheme):
        factory = entry.load()
        if not callable(factory):
            raise ConfigurationError(f"entry point {entry.value!r} for {scheme!r} is not callable")
        return factory  # type: ignore[no-any-return]
    return None


def transport_from_url(url: str, /, **options: Any) -> BaseTransport:
    """Make a transport from a URL; keyword options go to its constructor and win over the URL.

    Secrets that do not belong in a URL (an OAuth2 token provider, a password from a
    vault) are passed as keywords.

    Example:
        >>> t = transport_from_url("smtp://billing@mail.example.com:587?security=starttls",
        ...                        password="from-the-vault")
        >>> t
        <SMTPTransport name='smtp' server='billing@mail.example.com:587' security='starttls' auth=password>
        >>> transport_from_url("memory:")
        <MemoryTransport name='memory'>

    Raises:
        ConfigurationError: the scheme is unknown, or an option is unknown or invalid
            (the message names it).
    """
    if not isinstance(url, str) or ":" not in url:
        raise ConfigurationError(f"{url!r} is not a transport URL (like smtp://host or file:///path)")
    scheme = url.split(":", 1)[0].lower()
    factory = _BUILTIN.get(scheme) or _plugin(scheme)
    if factory is None:
        known = ", ".join(sorted(_BUILTIN))
        raise ConfigurationError(
            f"unknown transport scheme {scheme!r} in {mask_url(url)!r}; built in: {known} "
            f"(others come from the {ENTRY_POINT_GROUP!r} entry points)"
        )
    try:
        return factory(url, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigurationError(f"{mask_url(url)!r}: {exc}") from exc
