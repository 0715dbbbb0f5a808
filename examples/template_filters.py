"""The locale filters and check() (see docs/reference/templates.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.numbers import format_currency

from mailbill import MappingLoader, Templates

BODY = """\
money:    {{ total|money("EUR") }}
number:   {{ quantity|number }} / {{ quantity|number(2) }}
percent:  {{ rate|percent }}
date:     {{ day|date }} / {{ day|date("long") }} / {{ day|date("d.M.yyyy") }}
datetime: {{ moment|datetime("short") }}
period:   {{ day|period }}
"""

CONTEXT = {
    "total": Decimal("1234.5"),
    "quantity": 12345.678,
    "rate": 0.25,
    "day": dt.date(2024, 9, 30),
    "moment": dt.datetime(2024, 9, 30, 12, 0, tzinfo=dt.UTC),
}


def main() -> None:
    loader = MappingLoader(
        {
            ("statement", language): {"subject": "{{ day|period }}", "text": BODY}
            for language in ("sv", "fr", "nl", "en")
        }
    )
    templates = Templates(loader, timezone="Europe/Paris")
    for language in ("sv", "fr-FR", "nl-BE", "en-US"):
        rendered = templates.render("statement", language, CONTEXT)
        print(f"--- {language} (formatted as {rendered.locale}): {rendered.subject}")
        print(rendered.text)
        assert format_currency(Decimal("1234.5"), "EUR", locale=rendered.locale) in (rendered.text or "")

    # check() for an admin screen: fields a sample lacks, missing languages, syntax errors.
    report = templates.check(
        {"total": 1, "day": dt.date(2024, 9, 1)}, languages=["sv", "fr", "nl", "en", "de"]
    )
    for problem in report.problems:
        print(problem.code, problem.kind, problem.language, problem.field or "", sep="\t")
    assert {p.code for p in report.problems} == {"missing-language", "missing-field"}


if __name__ == "__main__":
    main()
