"""The babel filters, against babel's own output."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from babel.dates import format_datetime, format_skeleton, format_time, get_timezone
from babel.numbers import format_currency, format_decimal, format_percent

from mailbill import MappingLoader, Templates
from mailbill.errors import MissingFieldError, TemplateError


def _render(body: str, language: str, context: dict[str, object], **options: object) -> str | None:
    loader = MappingLoader({("k", language): {"subject": "s", "text": body}})
    return Templates(loader, default_language=language, **options).render("k", language, context).text  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [Decimal("1234.5"), 1234.5, 1234, "1234.50"])
def test_money_accepts_numbers_and_numeric_strings(value: object) -> None:
    """This test ensures that money() formats Decimal, float, int and numeric strings like babel."""
    assert _render("{{ v|money('sek') }}", "sv", {"v": value}) == format_currency(
        Decimal(str(value)), "SEK", locale="sv"
    )


def test_number_and_percent_with_fixed_decimals() -> None:
    """This test ensures that the decimals argument fixes the fraction digits."""
    text = _render("{{ v|number(2) }} {{ v|number(0) }} {{ r|percent(1) }}", "de", {"v": 1234.5, "r": 0.1234})

    expected = " ".join(
        [
            format_decimal(1234.5, format="#,##0.00", locale="de"),
            format_decimal(1234.5, format="#,##0", locale="de"),
            format_percent(0.1234, format="#,##0.0%", locale="de"),
        ]
    )
    assert text == expected


def test_datetime_and_time_use_the_configured_time_zone() -> None:
    """This test ensures that date-times are shown in the set's time zone; naive ones count as UTC."""
    moment = dt.datetime(2024, 3, 31, 0, 30)
    zone = get_timezone("Europe/Stockholm")

    text = _render(
        "{{ m|datetime('full') }} / {{ m|time }}", "sv", {"m": moment}, timezone="Europe/Stockholm"
    )

    assert text == f"{format_datetime(moment, 'full', tzinfo=zone, locale='sv')} / " + format_time(
        moment, "short", tzinfo=zone, locale="sv"
    )
    assert "01:30" in (text or "")


@pytest.mark.parametrize(
    "value", [dt.date(2024, 9, 1), dt.datetime(2024, 9, 15, 10), "2024-09", "2024-09-30"]
)
def test_period_accepts_dates_and_month_strings(value: object) -> None:
    """This test ensures that period() names the month and year in the locale, from several inputs."""
    assert _render("{{ p|period }}", "fr", {"p": value}) == "septembre 2024"
    assert _render("{{ p|period('yQQQQ') }}", "en", {"p": value}) == format_skeleton(
        "yQQQQ", dt.date(2024, 9, 1), locale="en"
    )


@pytest.mark.parametrize(
    ("body", "value", "message"),
    [
        ("{{ v|money('SEK') }}", "twelve", "expected a number"),
        ("{{ v|money('NOPE') }}", 1, "unknown currency"),
        ("{{ v|number }}", True, "expected a number"),
        ("{{ v|date }}", "yesterday", "expected a date"),
        ("{{ v|datetime }}", 5, "expected a date and time"),
    ],
)
def test_bad_values_are_template_errors(body: str, value: object, message: str) -> None:
    """This test ensures that a value a filter cannot format is a TemplateError saying why."""
    with pytest.raises(TemplateError, match=message):
        _render(body, "en", {"v": value})


def test_preview_marks_missing_values_in_filters_and_names_them_in_arithmetic() -> None:
    """This test ensures that lenient rendering marks a missing filtered value and names one used in a
    computation."""
    loader = MappingLoader({("k", "en"): {"subject": "s", "text": "{{ v|money('EUR') }}"}})
    assert Templates(loader).preview("k", "en", {}).text == "[missing: v]"

    loader = MappingLoader({("k", "en"): {"subject": "s", "text": "{{ v + 1 }}"}})
    with pytest.raises(MissingFieldError) as caught:
        Templates(loader).preview("k", "en", {})
    assert caught.value.field == "v"
