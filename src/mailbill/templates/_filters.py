"""Locale-aware filters (babel), bound at render time to the locale of the template used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_datetime, format_skeleton, format_time
from babel.numbers import UnknownCurrencyError, format_currency, validate_currency
from jinja2.runtime import Context, Undefined
from jinja2.utils import pass_context

from mailbill.templates._dates import DateFormats
from mailbill.templates._numbers import NumberFormats, PreparedNumber

__all__ = ["LocaleFormatter", "locale_filters"]

_Number = int | float | Decimal
#: The most numbers one render remembers the text of (see LocaleFormatter._formatted).
_PRINTED_LIMIT = 256


class LocaleFormatter:
    """Formats numbers, money and dates for one locale and one display time zone.

    Args:
        locale: The babel locale.
        tzinfo: The time zone date-times are shown in.
        numbers: The prepared number patterns of ``locale``, shared between
            renders (default: a new, empty set).
        dates: The formatted dates of ``locale``, shared between renders
            (default: a new, empty cache).

    A formatter serves one render: it remembers the numbers it printed.
    """

    __slots__ = ("_dates", "_numbers", "_printed", "locale", "tzinfo")

    def __init__(
        self,
        locale: Locale,
        tzinfo: dt.tzinfo,
        *,
        numbers: NumberFormats | None = None,
        dates: DateFormats | None = None,
    ) -> None:
        self.locale = locale
        self.tzinfo = tzinfo
        self._numbers = NumberFormats(locale) if numbers is None else numbers
        self._dates = DateFormats(locale) if dates is None else dates
        self._printed: dict[tuple[PreparedNumber, type, _Number], str] = {}

    def money(self, value: object, currency: str, format: str | None = None) -> str:
        """``{{ total|money("SEK") }}`` -> ``1 234,50 kr`` in Swedish."""
        code = str(currency).upper()
        custom = format is not None and not isinstance(format, str)  # left to babel's own checks
        prepared = None if custom else self._numbers.get("money", code, format or None)
        if prepared is None:  # a currency is prepared only once it is known to be valid
            self._known(code, currency)
            number = _number(value, "money")
            if custom:
                return format_currency(number, code, format=format, locale=self.locale)
            return self._formatted(self._numbers.prepare("money", code, format or None), number)
        return self._formatted(prepared, _number(value, "money"))

    @staticmethod
    def _known(code: str, currency: object) -> None:
        try:
            validate_currency(code)
        except UnknownCurrencyError:
            raise ValueError(f"money: unknown currency {currency!r}") from None

    def number(self, value: object, decimals: int | None = None) -> str:
        """``{{ 1234.5|number }}`` -> ``1 234,5`` in Swedish; ``decimals`` fixes the fraction digits."""
        pattern = None if decimals is None else "#,##0" + ("." + "0" * int(decimals) if decimals else "")
        number = _number(value, "number")
        return self._formatted(self._numbers.get_or_prepare("number", None, pattern), number)

    def percent(self, value: object, decimals: int | None = None) -> str:
        """``{{ 0.25|percent }}`` -> ``25 %`` in Swedish (the value is a fraction)."""
        pattern = (
            None if decimals is None else "#,##0" + ("." + "0" * int(decimals) if decimals else "") + "%"
        )
        number = _number(value, "percent")
        return self._formatted(self._numbers.get_or_prepare("percent", None, pattern), number)

    def _formatted(self, prepared: PreparedNumber, number: _Number) -> str:
        # A letter prints most amounts twice or more (text and HTML, line and
        # total). Within one render the thread's Decimal context is fixed, so an
        # equal int or finite Decimal prints the same. Zero is left out: 0 and -0
        # are equal but print differently.
        exact = type(number) is int or (isinstance(number, Decimal) and number.is_finite())
        if not (prepared.fast and exact and number):
            return prepared.format(number)
        key = (prepared, type(number), number)
        text = self._printed.get(key)
        if text is None:
            text = prepared.format(number)
            if len(self._printed) < _PRINTED_LIMIT:
                self._printed[key] = text
        return text

    def date(self, value: object, format: str = "medium") -> str:
        """A date: ``"short"``, ``"medium"``, ``"long"``, ``"full"`` or a CLDR pattern."""
        return self._dates.format(_date(value, "date"), format)

    def datetime(self, value: object, format: str = "medium") -> str:
        """A date and time in the display time zone (a naive value is taken as UTC)."""
        return format_datetime(
            _datetime(value, "datetime"), format=format, tzinfo=self.tzinfo, locale=self.locale
        )

    def time(self, value: object, format: str = "short") -> str:
        """A time of day in the display time zone (a naive date-time is taken as UTC)."""
        moment = value if isinstance(value, dt.time) else _datetime(value, "time")
        return format_time(moment, format=format, tzinfo=self.tzinfo, locale=self.locale)

    def period(self, value: object, skeleton: str = "yMMMM") -> str:
        """A month and year: ``"septembre 2024"`` in French, ``"september 2024"`` in Swedish.

        Accepts a date, a date-time or ``"2024-09"``; ``skeleton`` is a CLDR skeleton
        (``"yQQQQ"`` gives the quarter).
        """
        return format_skeleton(skeleton, _date(value, "period"), locale=self.locale)


def _number(value: object, filter_name: str) -> _Number:
    if isinstance(value, bool):
        raise ValueError(f"{filter_name}: expected a number, got {value!r}")
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            pass
    raise ValueError(f"{filter_name}: expected a number, got {value!r}")


def _date(value: object, filter_name: str) -> dt.date:
    if isinstance(value, dt.date):  # also a datetime
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text + "-01" if len(text) == 7 else text[:10])
        except ValueError:
            pass
    raise ValueError(f"{filter_name}: expected a date, got {value!r}")


def _datetime(value: object, filter_name: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{filter_name}: expected a date and time, got {value!r}")


def _bind(name: str) -> Callable[..., Any]:
    @pass_context
    def locale_filter(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Undefined):
            return str(value)  # strict: raises naming the field; lenient: the marker
        formatter = getattr(context, "mb_formatter", None)
        if not isinstance(formatter, LocaleFormatter):  # pragma: no cover - set on every render
            raise ValueError(f"{name}: no locale bound to this render")
        return getattr(formatter, name)(value, *args, **kwargs)

    locale_filter.__name__ = name
    locale_filter.__doc__ = getattr(LocaleFormatter, name).__doc__
    return locale_filter


def locale_filters() -> dict[str, Callable[..., Any]]:
    """Return the filters to register: ``money``, ``number``, ``percent``, ``date``, ``datetime``,
    ``time`` and ``period``."""
    return {
        name: _bind(name) for name in ("money", "number", "percent", "date", "datetime", "time", "period")
    }
