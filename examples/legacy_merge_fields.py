"""Bring texts written for another system: convert their merge fields.

See docs/howto/legacy-merge-fields.md.
"""

from __future__ import annotations

import datetime as dt

from mailbill import MappingLoader, Templates, TemplateSyntaxError, convert_legacy

# Seed 001: "{Customer.Contact.Name}", "{Number}", "{DueDate}" in subject and body.
BRACES_FIELDS = {
    "Customer.Contact.Name": "customer.contact_name",
    "Number": "invoice.number",
    "DueDate": "invoice.due_date|date('long')",
}
# Seed 003: "&personne" and "&periode" in the mail text of a care home.
AMPERSAND_FIELDS = {"personne": "resident.name", "periode": "invoice.period|period"}


def main() -> None:
    subject = convert_legacy("Faktura {Number} från oss", syntax="braces", fields=BRACES_FIELDS)
    body = convert_legacy(
        "Hej {Customer.Contact.Name},\nfakturan förfaller {DueDate}.", syntax="braces", fields=BRACES_FIELDS
    )
    print(subject)
    print(body)

    care_text = convert_legacy(
        "Vous trouverez ci-joint la facture de &personne pour la période de &periode",
        syntax="ampersand",
        fields=AMPERSAND_FIELDS,
    )

    templates = Templates(
        MappingLoader(
            {
                ("invoice", "sv"): {"subject": subject, "text": body},
                ("care-invoice", "fr"): {"subject": "Facture {{ invoice.period|period }}", "text": care_text},
            }
        )
    )
    rendered = templates.render(
        "invoice",
        "sv",
        {
            "customer": {"contact_name": "Anna Lind"},
            "invoice": {"number": 10023, "due_date": dt.date(2024, 10, 31)},
        },
    )
    print(rendered.subject, "|", rendered.text)

    rendered = templates.render(
        "care-invoice",
        "fr",
        {"resident": {"name": "MAILLY Josiane"}, "invoice": {"period": dt.date(2024, 9, 1)}},
    )
    print(rendered.text)
    assert (
        rendered.text
        == "Vous trouverez ci-joint la facture de MAILLY Josiane pour la période de septembre 2024"
    )

    # A field the mapping does not know is reported where it is, for the admin screen.
    try:
        convert_legacy(
            "Dear <<customer>>,\nyour <<contract no>> ...", syntax="angle", fields={"customer": "c"}
        )
    except TemplateSyntaxError as exc:
        print(exc)
        position = (exc.lineno, exc.column)
    else:
        raise SystemExit("the unknown field was not reported")
    assert position == (2, 6)


if __name__ == "__main__":
    main()
