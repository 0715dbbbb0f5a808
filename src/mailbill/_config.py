"""Settings as plain data: read from a mapping (or a TOML file), validated once.

Unknown keys are errors that name the key and where it was, so a typo in a
settings file stops the program at start-up instead of being ignored. Secrets
are never stored in the configuration itself: a transport names the environment
variable that holds its password or token (``password_env``), and the value is
read only when the transport is built.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailbill.errors import ConfigurationError
from mailbill.transports import mask_url

__all__ = ["Config", "DispatchSettings", "TransportSettings"]


DEFAULT_OUTBOX = "sqlite:///mailbill-outbox.db"


def _check_keys(section: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _get(section: Mapping[str, object], key: str, kind: type, where: str, default: object) -> object:
    value = section.get(key, default)
    if value is not default and not isinstance(value, kind):
        raise ConfigurationError(f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """One named transport (an account) in a configuration.

    Attributes:
        name: The account name documents and rate limits refer to.
        url: A transport URL (``smtp://user@host:587?security=starttls``, ``file:///path``, ...).
        password_env: The environment variable holding the SMTP password, if any.
        token_env: The environment variable holding an OAuth2 access token, if any.
        rates: Rate limits for this account (``"30/minute"``, ``"10000/day"``).
    """

    name: str
    url: str
    password_env: str | None = None
    token_env: str | None = None
    rates: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"TransportSettings(name={self.name!r}, url={mask_url(self.url)!r}, rates={self.rates!r})"

    def secret(self, kind: str) -> str | None:
        """Read the password (``kind="password"``) or token (``"token"``) from the environment.

        Raises:
            ConfigurationError: the named variable is not set.
        """
        var = self.password_env if kind == "password" else self.token_env
        if var is None:
            return None
        value = os.environ.get(var)
        if value is None:
            raise ConfigurationError(f"transports.{self.name}: environment variable {var} is not set")
        return value


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """How the dispatcher runs.

    Attributes:
        poll_interval: Seconds between polls of the outbox in ``run_forever``.
        batch_size: Items claimed at a time.
        lease_seconds: How long a claimed item is reserved for one worker.
        max_attempts: Attempts before a transiently failing item becomes FAILED.
    """

    poll_interval: float = 30.0
    batch_size: int = 50
    lease_seconds: float = 300.0
    max_attempts: int = 8


@dataclass(frozen=True, slots=True)
class Config:
    """A whole mailbill configuration: outbox, transports and dispatch settings.

    Example:
        >>> cfg = Config.from_mapping({
        ...     "outbox": "sqlite:///var/lib/app/outbox.db",
        ...     "transports": {"default": {"url": "smtp://billing@smtp.example.com:587",
        ...                                "password_env": "SMTP_PASSWORD",
        ...                                "rates": ["30/minute"]}},
        ... })
        >>> cfg.transports[0].name
        'default'

    Attributes:
        outbox: The outbox URL: ``sqlite:///path/to/file.db``, ``memory:`` or a
            ``postgresql://`` DSN.
        transports: The named transports; the first is the default account.
        dispatch: Dispatcher settings.
    """

    outbox: str = DEFAULT_OUTBOX
    transports: tuple[TransportSettings, ...] = ()
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)

    def __repr__(self) -> str:
        return (
            f"Config(outbox={mask_url(self.outbox)!r}, transports={self.transports!r}, "
            f"dispatch={self.dispatch!r})"
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], /) -> Config:
        """Validate a mapping (as read from TOML or JSON) into a Config.

        Raises:
            ConfigurationError: an unknown key, a value of the wrong type, or a
                transport without a URL; the message says where.
        """
        _check_keys(data, {"outbox", "transports", "dispatch"}, "config")
        outbox = _get(data, "outbox", str, "config", DEFAULT_OUTBOX)
        raw_transports = _get(data, "transports", dict, "config", {})
        assert isinstance(raw_transports, dict)
        transports: list[TransportSettings] = []
        for name, section in raw_transports.items():
            where = f"transports.{name}"
            if not isinstance(section, dict):
                raise ConfigurationError(f"{where}: expected a table")
            _check_keys(section, {"url", "password_env", "token_env", "rates"}, where)
            url = section.get("url")
            if not isinstance(url, str) or not url:
                raise ConfigurationError(f"{where}.url: a transport URL is required")
            rates = _get(section, "rates", list, where, [])
            assert isinstance(rates, list)
            if not all(isinstance(r, str) for r in rates):
                raise ConfigurationError(f"{where}.rates: expected a list of strings like '30/minute'")
            password_env = _get(section, "password_env", str, where, None)
            token_env = _get(section, "token_env", str, where, None)
            transports.append(
                TransportSettings(
                    name=str(name),
                    url=url,
                    password_env=password_env if isinstance(password_env, str) else None,
                    token_env=token_env if isinstance(token_env, str) else None,
                    rates=tuple(rates),
                )
            )
        raw_dispatch = _get(data, "dispatch", dict, "config", {})
        assert isinstance(raw_dispatch, dict)
        defaults = DispatchSettings()
        _check_keys(raw_dispatch, set(DispatchSettings.__dataclass_fields__), "dispatch")
        values: dict[str, float | int] = {}
        for key in DispatchSettings.__dataclass_fields__:
            default = getattr(defaults, key)
            value = raw_dispatch.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"dispatch.{key}: expected a positive number, got {value!r}")
            values[key] = type(default)(value)
        assert isinstance(outbox, str)
        return cls(
            outbox=outbox,
            transports=tuple(transports),
            dispatch=DispatchSettings(
                poll_interval=float(values["poll_interval"]),
                batch_size=int(values["batch_size"]),
                lease_seconds=float(values["lease_seconds"]),
                max_attempts=int(values["max_attempts"]),
            ),
        )

    @classmethod
    def from_file(cls, path: str | Path, /) -> Config:
        """Read a TOML file and validate it with :meth:`from_mapping`.

        Raises:
            ConfigurationError: the file cannot be read or parsed, or is not valid.
        """
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ConfigurationError(f"cannot read configuration {str(path)!r}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{str(path)!r} is not valid TOML: {exc}") from exc
        try:
            return cls.from_mapping(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{str(path)!r}: {exc}") from exc
