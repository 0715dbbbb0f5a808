"""The prepared number patterns give exactly babel's text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation, localcontext

import pytest
from babel import Locale, localedata
from babel.numbers import format_currency, format_decimal, format_percent, list_currencies
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbill.templates._filters import LocaleFormatter
from mailbill.templates._numbers import NumberFormats

# Every locale babel ships (Arabic and Persian ones have right-to-left marks,
# Swiss German an apostrophe-like group sign, Indian ones 2-digit groups).
LOCALES = sorted(localedata.locale_identifiers())
CURRENCIES = sorted(list_currencies())
PATTERNS = st.sampled_from(
    [
        None,
        "",
        "#,##0.00 ¤",
        "¤#,##0.00;(¤#,##0.00)",
        "¤¤ #,##0.###",
        "#,##0.00 ¤¤¤",  # the plural currency name depends on the value: left to babel
        "#,##,##0.00¤",
        "'EUR' #,##0.00",  # quoted text: left to babel
        "0.00",
        "#,##0",
        "@@@ ¤",
        "00000.0",
        "#,##0.0#E0 ¤",
    ]
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=True, places=None),
    st.decimals(min_value=-(10**9), max_value=10**9, places=4),
)


def _same(expected: object, actual: object) -> None:
    assert actual == expected, (actual, expected)


def _babel_or_error(call: object) -> str | type[BaseException]:
    try:
        return call()  # type: ignore[operator,no-any-return]
    except Exception as exc:  # babel's error for the same input must come back too
        return type(exc)


@given(st.sampled_from(LOCALES), st.sampled_from(CURRENCIES), PATTERNS, NUMBERS)
@settings(max_examples=300)
def test_money_matches_babel_format_currency(
    locale_id: str, currency: str, pattern: str | None, number: int | float | Decimal
) -> None:
    """This test ensures that a prepared money pattern formats every value exactly as babel does."""
    locale = Locale.parse(locale_id)
    prepared = NumberFormats(locale).prepare("money", currency, pattern or None)
    expected = _babel_or_error(lambda: format_currency(number, currency, format=pattern, locale=locale))
    _same(expected, _babel_or_error(lambda: prepared.format(number)))


@given(st.sampled_from(LOCALES), st.sampled_from([None, "#,##0", "#,##0.00", "#,##0.000%"]), NUMBERS)
@settings(max_examples=200)
def test_numbers_and_percents_match_babel(locale_id: str, pattern: str | None, number: object) -> None:
    """This test ensures that prepared number and percent patterns format exactly as babel does."""
    locale = Locale.parse(locale_id)
    formats = NumberFormats(locale)
    expected = _babel_or_error(lambda: format_decimal(number, format=pattern, locale=locale))  # type: ignore[arg-type]
    _same(expected, _babel_or_error(lambda: formats.prepare("number", None, pattern).format(number)))  # type: ignore[arg-type]
    percent = None if pattern is None else pattern.rstrip("%") + "%"
    expected = _babel_or_error(lambda: format_percent(number, format=percent, locale=locale))  # type: ignore[arg-type]
    _same(expected, _babel_or_error(lambda: formats.prepare("percent", None, percent).format(number)))  # type: ignore[arg-type]


@pytest.mark.parametrize("locale_id", ["de", "sv", "de_CH", "ar_EG", "hi_IN", "fr", "ja", "en_US"])
def test_the_filters_reuse_prepared_patterns_and_match_babel(locale_id: str) -> None:
    """This test ensures that the filters, served from the shared cache, give babel's text on every call."""
    locale = Locale.parse(locale_id)
    numbers = NumberFormats(locale)
    first = LocaleFormatter(locale, dt.UTC, numbers=numbers)
    second = LocaleFormatter(locale, dt.UTC, numbers=numbers)
    for formatter in (first, second, first):
        for value in (Decimal("1234.5"), -0.005, 10**12, "99.995", Decimal("-0")):
            number = Decimal(str(value).strip())
            assert formatter.money(value, "eur") == format_currency(number, "EUR", locale=locale)
            assert formatter.money(value, "JPY", "#,##0.00 ¤") == format_currency(
                number, "JPY", format="#,##0.00 ¤", locale=locale
            )
            assert formatter.number(value, 2) == format_decimal(number, format="#,##0.00", locale=locale)
            assert formatter.percent(value) == format_percent(number, locale=locale)
    assert numbers.get("money", "EUR", None) is not None
    with pytest.raises(ValueError, match="unknown currency 'XYZ'"):
        first.money(1, "XYZ")
    assert numbers.get("money", "XYZ", None) is None


def test_the_decimal_context_of_the_caller_is_honoured_like_babel() -> None:
    """This test ensures that a host's decimal precision rounds values the same way in both paths."""
    locale = Locale.parse("de")
    prepared = NumberFormats(locale).prepare("money", "EUR", None)
    with localcontext() as context:
        context.prec = 6
        value = Decimal("1234.56789")
        assert prepared.format(value) == format_currency(value, "EUR", locale=locale) == "1.234,57\xa0€"
        value = Decimal("123456789.987654321")  # too many digits for the precision: both refuse
        assert _babel_or_error(lambda: prepared.format(value)) is _babel_or_error(
            lambda: format_currency(value, "EUR", locale=locale)
        )


def test_the_cache_is_bounded() -> None:
    """This test ensures that patterns past the limit are prepared for each use, not kept."""
    numbers = NumberFormats(Locale.parse("sv"), limit=2)
    for decimals in range(5):
        assert numbers.prepare("number", None, "#,##0." + "0" * (decimals + 1)).format(1) == "1," + "0" * (
            decimals + 1
        )
    assert numbers.get("number", None, "#,##0.0") is not None
    assert numbers.get("number", None, "#,##0.000") is None


AMOUNTS = st.one_of(
    # amounts a bill could hold: past 26 digits babel's own quantize fails (28-digit context)
    st.decimals(min_value=-(10**15), max_value=10**15, places=2),
    st.sampled_from([Decimal("-0"), Decimal("0"), 0, Decimal("0.00"), Decimal("1"), 1, Decimal("1.0")]),
    st.sampled_from([Decimal("NaN"), Decimal("-NaN"), Decimal("Infinity"), Decimal("-Infinity")]),
    st.integers(min_value=-(10**12), max_value=10**12),
)


@given(values=st.lists(AMOUNTS, min_size=1, max_size=12), locale=st.sampled_from(["de_DE", "sv_SE", "ar_EG"]))
def test_numbers_printed_again_in_one_render_read_as_babel_prints_them(
    values: list[object], locale: str
) -> None:
    """This test ensures that remembering printed amounts changes no text: -0 and 0, NaN, 1 and 1.0."""
    formatter = LocaleFormatter(Locale.parse(locale), dt.UTC)
    for value in [*values, *reversed(values)]:
        expected = format_currency(value, "EUR", locale=locale)  # type: ignore[arg-type]
        assert formatter.money(value, "EUR") == expected
        assert formatter.number(value, 2) == format_decimal(value, format="#,##0.00", locale=locale)  # type: ignore[arg-type]
    with pytest.raises(InvalidOperation):  # as babel; not a TypeError from hashing it
        formatter.money(Decimal("sNaN"), "EUR")
