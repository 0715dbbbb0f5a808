"""Templates per kind and language, with a fallback chain (see docs/howto/translations.md).

Writes a small template directory under a temporary directory, then renders an invoice and a
dunning letter for recipients with different language tags.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

from mailbill import DirectoryLoader, TemplateNotFoundError, Templates

FILES = {
    "invoice/sv/subject.txt": "Faktura {{ invoice.number }}\n",
    "invoice/sv/body.txt": "Hej {{ customer.name }}!\n\nAtt betala: {{ invoice.total|money('SEK') }}"
    " senast {{ invoice.due|date('long') }}.\n",
    "invoice/en/subject.txt": "Invoice {{ invoice.number }}\n",
    "invoice/en/body.txt": "Dear {{ customer.name }},\n\nPlease pay {{ invoice.total|money('SEK') }}"
    " by {{ invoice.due|date('long') }}.\n",
    "invoice/en/body.html": "<p>Dear {{ customer.name }},</p>\n"
    "<p>Please pay {{ invoice.total|money('SEK') }}.</p>\n",
    "dunning-1/de/subject.txt": "Zahlungserinnerung {{ invoice.number }}\n",
    "dunning-1/de/body.txt": "Bitte begleichen Sie {{ invoice.total|money('EUR') }}.\n",
    "dunning-1/da/subject.txt": "Rykker {{ invoice.number }}\n",
    "dunning-1/da/body.txt": "Betal venligst {{ invoice.total|money('EUR') }}.\n",
}

CONTEXT = {
    "customer": {"name": "Anna <Lind> & Co"},
    "invoice": {"number": "10023", "total": Decimal("1234.50"), "due": dt.date(2024, 10, 31)},
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in FILES.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")

        templates = Templates(
            DirectoryLoader(root),
            default_language="de",  # customers with no language get German (as in seed 002)
            fallbacks={"gsw": ["de"], "nb": ["no", "da"]},  # Swiss German reads German, Norwegian Danish
            timezone="Europe/Stockholm",
        )

        # sv_SE has no template of its own: its parent, sv, is used.
        rendered = templates.render("invoice", "sv-SE", CONTEXT)
        print(rendered.language_used, rendered.tried, rendered.subject)
        print(rendered.text)
        assert rendered.language_used == "sv"
        assert rendered.tried == ("sv_SE", "sv")

        # English has an HTML body too: values are escaped there, not in the text body.
        rendered = templates.render("invoice", "en-GB", CONTEXT)
        print(rendered.html)
        assert rendered.html is not None
        assert "Anna &lt;Lind&gt; &amp; Co" in rendered.html

        # No language, Swiss German, and Norwegian Bokmål through the configured fallbacks.
        for language in (None, "gsw-CH", "de-CH", "nb-NO"):
            resolution = templates.resolve("dunning-1", language)
            print(f"{language!s:7} -> {resolution.language_used} (tried {', '.join(resolution.tried)})")
        assert templates.resolve("dunning-1", "nb-NO").language_used == "da"
        assert templates.resolve("dunning-1", None).language_used == "de"

        # A kind missing everywhere names every template it looked for.
        try:
            templates.render("welcome", "fr-BE", CONTEXT)
        except TemplateNotFoundError as exc:
            print("not found:", ", ".join(exc.tried))


if __name__ == "__main__":
    main()
