"""The remembered dates give exactly babel's text, and the cache stays bounded."""

from __future__ import annotations

import datetime as dt

from babel import Locale
from babel.dates import format_date
from hypothesis import given
from hypothesis import strategies as st

from mailbill.templates._dates import DateFormats

FORMATS = st.sampled_from(["short", "medium", "long", "full", "d. MMMM y", "EEEE, d.M.yy", "QQQ y"])
LOCALES = st.sampled_from(["de_DE", "sv_SE", "fr_FR", "en_US", "ar_EG", "ja_JP", "fi_FI"])


@given(day=st.dates(), fmt=FORMATS, locale=LOCALES)
def test_a_remembered_date_is_babels_text_every_time(day: dt.date, fmt: str, locale: str) -> None:
    """This test ensures that the first and the remembered answer both equal format_date's."""
    formats = DateFormats(Locale.parse(locale))
    expected = format_date(day, format=fmt, locale=locale)
    assert formats.format(day, fmt) == expected
    assert formats.format(day, fmt) == expected


def test_dates_are_kept_up_to_the_limit_then_the_cache_starts_again() -> None:
    """This test ensures that a long-running host does not grow the cache without end."""
    formats = DateFormats(Locale.parse("de_DE"), limit=3)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(4)]
    for day in days[:3]:
        formats.format(day, "long")
    assert len(formats._cache) == 3
    assert formats.format(days[3], "long") == "4. Januar 2026"
    assert list(formats._cache) == [(days[3], "long")]


def test_datetimes_are_formatted_but_not_kept() -> None:
    """This test ensures that times of day (distinct in every letter) do not fill the cache."""
    formats = DateFormats(Locale.parse("sv_SE"))
    moment = dt.datetime(2026, 11, 24, 17, 30)
    assert formats.format(moment, "long") == format_date(moment, format="long", locale="sv_SE")
    assert formats._cache == {}
