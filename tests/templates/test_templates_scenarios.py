"""The seed scenarios: Swedish invoices, German dunning letters, French care homes, Dutch and English."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from mailbill import MappingLoader, Templates, TemplateSource, convert_legacy
from mailbill.errors import TemplateNotFoundError

# 001: the host's own field names, as its template editor shows them to office staff.
INVOICE_FIELDS = {
    "Customer.Contact.Name": "customer.contact.name",
    "Number": "invoice.number",
    "DueDate": "invoice.due_date|date",
    "Total": "invoice.total|money(invoice.currency)",
}
INVOICE_CONTEXT = {
    "customer": {"contact": {"name": "Anna Lind"}},
    "invoice": {
        "number": 10023,
        "due_date": dt.date(2024, 10, 31),
        "total": Decimal("1234.50"),
        "currency": "SEK",
    },
}


def test_swedish_invoice_with_legacy_merge_fields_in_subject_and_body() -> None:
    """This test ensures that a Swedish invoice template written with 001's merge fields renders them
    in subject and body, formatted the Swedish way."""
    subject = convert_legacy("Faktura {Number} förfaller {DueDate}", syntax="braces", fields=INVOICE_FIELDS)
    body = convert_legacy(
        "Hej {Customer.Contact.Name}!\n\nBifogat finns faktura {Number} på {Total}.\n",
        syntax="braces",
        fields=INVOICE_FIELDS,
    )
    templates = Templates(
        MappingLoader(
            {
                ("invoice", "sv"): {"subject": subject, "text": body},
                ("invoice", "en"): {"subject": "Invoice {{ invoice.number }}", "text": "Hello!"},
            }
        ),
        default_language="en",
    )

    rendered = templates.render("invoice", "sv_SE", INVOICE_CONTEXT)

    due = format_date(dt.date(2024, 10, 31), "medium", locale="sv_SE")
    total = format_currency(Decimal("1234.50"), "SEK", locale="sv_SE")
    assert total == "1\xa0234,50\xa0kr"
    assert rendered.language_used == "sv"
    assert rendered.tried == ("sv_SE", "sv")
    assert rendered.subject == f"Faktura 10023 förfaller {due}"
    assert rendered.text == f"Hej Anna Lind!\n\nBifogat finns faktura 10023 på {total}.\n"
    assert rendered.html is None


def _dunning_templates() -> Templates:
    return Templates(
        MappingLoader(
            {
                ("dunning-1", "de"): TemplateSource(
                    "Zahlungserinnerung zu Rechnung {{ number }}",
                    text="Bitte überweisen Sie {{ open|money(currency) }} bis {{ due|date('long') }}.",
                ),
                ("dunning-1", "fr"): TemplateSource("Rappel {{ number }}", text="Veuillez payer."),
            }
        ),
        default_language="de",
    )


DUNNING_CONTEXT = {
    "number": "R-77",
    "open": Decimal("1250.5"),
    "currency": "CHF",
    "due": dt.date(2024, 11, 15),
}


def test_german_dunning_text_for_a_customer_with_no_language() -> None:
    """This test ensures that a customer with no correspondence language gets the German default."""
    templates = _dunning_templates()

    rendered = templates.render("dunning-1", None, DUNNING_CONTEXT)

    assert rendered.language_used == "de"
    assert rendered.tried == ("de",)
    assert rendered.subject == "Zahlungserinnerung zu Rechnung R-77"
    money = format_currency(Decimal("1250.5"), "CHF", locale="de")
    assert (
        rendered.text
        == f"Bitte überweisen Sie {money} bis {format_date(dt.date(2024, 11, 15), 'long', locale='de')}."
    )


@pytest.mark.parametrize("tag", ["de-CH", "de_CH", "DE-ch"])
def test_german_dunning_text_for_swiss_german(tag: str) -> None:
    """This test ensures that de-CH falls back to the German text but keeps Swiss number formats."""
    templates = _dunning_templates()

    rendered = templates.render("dunning-1", tag, DUNNING_CONTEXT)

    assert rendered.language_used == "de"
    assert rendered.tried == ("de_CH", "de")
    assert rendered.locale == "de_CH"
    assert format_currency(Decimal("1250.5"), "CHF", locale="de_CH") in (rendered.text or "")


def test_french_care_home_text_with_ampersand_keywords() -> None:
    """This test ensures that 003's &personne and &periode give exactly the sentence of the help page."""
    text = convert_legacy(
        "Vous trouverez ci-joint la facture de &personne pour la période de &periode",
        syntax="ampersand",
        fields={"personne": "resident.name", "periode": "invoice.period|period"},
    )
    templates = Templates(
        MappingLoader(
            {("care-invoice", "fr"): {"subject": "Facture {{ invoice.period|period }}", "text": text}}
        ),
        default_language="fr",
    )

    rendered = templates.render(
        "care-invoice",
        "fr",
        {"resident": {"name": "MAILLY Josiane"}, "invoice": {"period": dt.date(2024, 9, 1)}},
    )

    assert (
        rendered.text
        == "Vous trouverez ci-joint la facture de MAILLY Josiane pour la période de septembre 2024"
    )
    assert rendered.subject == "Facture septembre 2024"


FORMATS = (
    "{{ total|money('EUR') }}|{{ amount|number }}|{{ rate|percent }}|{{ day|date('long') }}|"
    "{{ moment|datetime('medium') }}|{{ day|period }}"
)
FORMAT_CONTEXT = {
    "total": Decimal("98765.43"),
    "amount": 1234567.891,
    "rate": 0.215,
    "day": dt.date(2024, 9, 30),
    "moment": dt.datetime(2024, 9, 30, 14, 5, tzinfo=dt.UTC),
}


@pytest.mark.parametrize(
    ("tag", "locale"), [("nl-BE", "nl_BE"), ("nl", "nl"), ("en", "en"), ("en-GB", "en_GB")]
)
def test_dutch_and_english_formats_match_babel(tag: str, locale: str) -> None:
    """This test ensures that every filter gives babel's own output for the recipient's locale."""
    templates = Templates(
        MappingLoader(
            {
                ("statement", "nl"): {"subject": "s", "text": FORMATS},
                ("statement", "en"): {"subject": "s", "text": FORMATS},
            }
        ),
        timezone="Europe/Amsterdam",
    )

    rendered = templates.render("statement", tag, FORMAT_CONTEXT)

    from babel.dates import format_skeleton, get_timezone

    expected = "|".join(
        [
            format_currency(Decimal("98765.43"), "EUR", locale=locale),
            format_decimal(1234567.891, locale=locale),
            format_percent(0.215, locale=locale),
            format_date(dt.date(2024, 9, 30), "long", locale=locale),
            format_datetime(
                FORMAT_CONTEXT["moment"], "medium", tzinfo=get_timezone("Europe/Amsterdam"), locale=locale
            ),  # type: ignore[arg-type]
            format_skeleton("yMMMM", dt.date(2024, 9, 30), locale=locale),
        ]
    )
    assert rendered.locale == locale
    assert rendered.text == expected
    assert "16:05" in expected or "4:05" in expected  # shown in Amsterdam time, not UTC


def test_no_template_in_any_language_lists_every_name_tried() -> None:
    """This test ensures that a kind missing in the whole chain raises with every name tried."""
    templates = Templates(
        MappingLoader({("invoice", "en"): {"subject": "s", "text": "t"}}), fallbacks={"nb": ["no", "da"]}
    )

    with pytest.raises(TemplateNotFoundError) as caught:
        templates.render("rent-notice", "nb-NO", {})

    assert caught.value.tried == (
        "rent-notice/nb_NO",
        "rent-notice/nb",
        "rent-notice/no",
        "rent-notice/da",
        "rent-notice/en",
    )
    assert isinstance(caught.value, LookupError)
