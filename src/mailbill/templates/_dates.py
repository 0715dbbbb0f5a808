"""Dates formatted once per locale, for the ``date`` filter.

A billing run prints the same few dates (the issue date, the due date) in
thousands of letters, and ``babel.dates.format_date`` reads the locale's
patterns and month names again on every call: about a quarter of an
invoice's render. The text of a date in a locale and format never changes, so
:class:`DateFormats` remembers it.
"""

from __future__ import annotations

import datetime as dt

from babel import Locale
from babel.dates import format_date

__all__ = ["DateFormats"]


class DateFormats:
    """The formatted dates of one locale, remembered (a bounded cache).

    Args:
        locale: The locale.
        limit: The most dates kept; when full, the cache starts again, so a
            long-running host keeps the dates of its current runs.
    """

    __slots__ = ("_cache", "_limit", "locale")

    def __init__(self, locale: Locale, *, limit: int = 1024) -> None:
        self.locale = locale
        self._cache: dict[tuple[dt.date, str], str] = {}
        self._limit = limit

    def format(self, value: dt.date, format: str) -> str:
        """``value`` as ``babel.dates.format_date(value, format, locale)`` formats it."""
        # Only plain dates with a pattern given as text are kept: a datetime
        # would fill the cache with times of day, and other formats are not keys.
        if type(value) is not dt.date or type(format) is not str:
            return format_date(value, format=format, locale=self.locale)
        key = (value, format)
        text = self._cache.get(key)
        if text is None:
            text = format_date(value, format=format, locale=self.locale)
            # Dict operations are atomic: threads rendering at once at worst format twice.
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[key] = text
        return text
