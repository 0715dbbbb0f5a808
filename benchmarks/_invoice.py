# ruff: noqa: E501
"""The realistic invoice every benchmark sends, and the clients that send it.

One invoice: a plain-text body of about 2 KB and an HTML body of about 6 KB, both
rendered from Jinja templates with babel-formatted money, numbers and dates (German
and Swedish locales), a 40 KB PDF made with pypdf, and a non-ASCII subject and names.

The clients (each sends ``count`` invoices over one connection to a sink):

- :func:`send_prebuilt`: smtplib with the bytes built once (the ceiling);
- :func:`send_stdlib`: jinja2 + babel + ``EmailMessage(policy=default)`` + smtplib;
- :func:`send_django`: the same rendering, Django's ``EmailMultiAlternatives`` and SMTP backend;
- :func:`send_mailbill`: :class:`~mailbill.Templates`, mailbill's compose, a SQLite outbox
  (add, claim, mark sent) and :class:`~mailbill.SMTPTransport` driven by the :class:`~mailbill.Dispatcher`.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import io
import itertools
import random
import smtplib
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
import pypdf
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

SENDER_NAME = "Åsa Öberg, Bostäder i Söderhamn AB"
SENDER = "faktura@bostader.example.se"
NAMES = ["Märta Ängström", "Jürgen Weiß", "Zoë Ñúñez", "Søren Kierkegård", "Łucja Żółć", "François Lefèvre"]
LOCALES = ["de_DE", "sv_SE"]

SUBJECT = (
    "{{ 'Rechnung' if lang == 'de' else 'Faktura' }} {{ number }} – {{ customer }} – {{ total|money('EUR') }}"
)

TEXT = """\
{{ 'Guten Tag' if lang == 'de' else 'Hej' }} {{ customer }},

{{ intro }}

{% for line in lines -%}
{{ "%-44s"|format(line.text) }} {{ line.qty|number(2) }} x {{ line.price|money('EUR') }} = {{ line.amount|money('EUR') }}
{% endfor %}
{{ 'Summe' if lang == 'de' else 'Summa' }}: {{ total|money('EUR') }}
{{ 'Fällig am' if lang == 'de' else 'Förfallodag' }}: {{ due|date('long') }}
{{ 'Rechnungsdatum' if lang == 'de' else 'Fakturadatum' }}: {{ issued|date('medium') }}

{{ outro }}

{{ terms }}

{{ sender }}
Storgatan 5 · 826 30 Söderhamn · Org.nr 556677-8899 · Bankgiro 123-4567
"""

HTML = """\
<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ number }}</title>
<style>body{font-family:Arial,Helvetica,sans-serif;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}td.amount{text-align:right}
.footer{color:#777;font-size:11px;margin-top:24px}</style></head>
<body>
<table role="presentation" style="width:100%;border:0;margin:0 0 16px 0;background:#0b3d5c;color:#ffffff">
<tr><td style="padding:16px 24px;font-size:20px;font-weight:bold;color:#ffffff">Bostäder i Söderhamn AB</td>
<td style="padding:16px 24px;text-align:right;font-size:12px;color:#dbe7ef">Storgatan 5<br>826 30 Söderhamn<br>
Telefon 0270-12 34 56<br>kundtjanst@bostader.example.se</td></tr></table>
<table role="presentation" style="width:100%;border:0;margin:0 0 16px 0;font-size:13px">
<tr><td style="vertical-align:top;padding:0 24px 0 0;width:50%"><strong>{{ customer }}</strong><br>
{{ 'Kundennummer' if lang == 'de' else 'Kundnummer' }}: {{ number[-6:] }}<br>
{{ 'Rechnungsnummer' if lang == 'de' else 'Fakturanummer' }}: {{ number }}</td>
<td style="vertical-align:top;padding:0;width:50%;text-align:right">
{{ 'Rechnungsdatum' if lang == 'de' else 'Fakturadatum' }}: {{ issued|date('medium') }}<br>
{{ 'Zahlbar bis' if lang == 'de' else 'Betalas senast' }}: {{ due|date('medium') }}<br>
IBAN SE45 5000 0000 0583 9825 7466 · BIC ESSESESS</td></tr></table>
<h1 style="font-size:22px;margin:0 0 12px 0;color:#0b3d5c">{{ 'Rechnung' if lang == 'de' else 'Faktura' }} {{ number }}</h1>
<p>{{ 'Guten Tag' if lang == 'de' else 'Hej' }} <strong>{{ customer }}</strong>,</p>
<p>{{ intro }}</p>
<table><thead><tr><th>Position</th><th>Menge</th><th>Preis</th><th>Betrag</th></tr></thead><tbody>
{% for line in lines -%}
<tr style="background:{{ loop.cycle('#ffffff', '#f6f6f6') }}">\
<td style="padding:4px 8px;border-bottom:1px solid #ddd">{{ line.text }}</td>\
<td class="amount" style="padding:4px 8px;border-bottom:1px solid #ddd">{{ line.qty|number(2) }}</td>\
<td class="amount" style="padding:4px 8px;border-bottom:1px solid #ddd">{{ line.price|money('EUR') }}</td>\
<td class="amount" style="padding:4px 8px;border-bottom:1px solid #ddd">{{ line.amount|money('EUR') }}</td></tr>
{% endfor -%}
</tbody><tfoot><tr><th colspan="3">{{ 'Summe' if lang == 'de' else 'Summa' }}</th>\
<th class="amount">{{ total|money('EUR') }}</th></tr></tfoot></table>
<p>{{ 'Fällig am' if lang == 'de' else 'Förfallodag' }}: <strong>{{ due|date('long') }}</strong>
· {{ 'Rechnungsdatum' if lang == 'de' else 'Fakturadatum' }}: {{ issued|date('medium') }}</p>
<p>{{ outro }}</p>
<p style="font-size:11px;color:#555;line-height:1.4;margin:16px 0;border-top:1px solid #eee">{{ terms }}</p>
<div class="footer">{{ sender }} · Storgatan 5 · 826 30 Söderhamn · Org.nr 556677-8899 ·
Bankgiro 123-4567 · Styrelsens säte: Söderhamn · Godkänd för F-skatt · www.bostader.example.se
</div></body></html>
"""

INTRO = (
    "vielen Dank für Ihr Vertrauen. Anbei erhalten Sie die Rechnung für den Abrechnungszeitraum. "
    "Bitte überweisen Sie den Betrag bis zum Fälligkeitsdatum auf das unten genannte Konto. "
)
OUTRO = (
    "Bei Fragen zur Rechnung erreichen Sie unseren Kundendienst werktags von 8 bis 17 Uhr. "
    "Mit freundlichen Grüßen – Med vänliga hälsningar. "
)
LINE_TEXTS = [
    "Miete Wohnung 1102, Storgatan 5",
    "Nebenkosten Vorauszahlung (Heizung, Wasser)",
    "Stellplatz Tiefgarage Nr. 17",
    "Kabelanschluss und Internet 250 Mbit/s",
]
TERMS = (
    "Zahlungsbedingungen: zahlbar ohne Abzug bis zum Fälligkeitsdatum. Bei Zahlungsverzug berechnen wir "
    "Verzugszinsen in gesetzlicher Höhe sowie eine Mahngebühr. Einwände gegen diese Rechnung bitten wir "
    "innerhalb von 30 Tagen nach Zugang schriftlich mitzuteilen. Betalningsvillkor: 30 dagar netto. "
    "Vid försenad betalning debiteras dröjsmålsränta enligt räntelagen samt påminnelseavgift. "
)


def make_pdf(size: int = 40_000) -> bytes:
    """A real PDF (one A4 page) of about ``size`` bytes: a text page plus an embedded file."""
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Rechnung", "/Author": SENDER_NAME})
    out = io.BytesIO()
    writer.write(out)
    pad = size - len(out.getvalue()) - 400
    writer.add_attachment("buchungsdaten.bin", random.Random(1).randbytes(max(pad, 0)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def record(n: int) -> dict[str, Any]:
    """The data of invoice ``n`` as a billing application would pass it to its templates."""
    rng = random.Random(n)
    lines = []
    for text in LINE_TEXTS:
        qty = Decimal(rng.randint(1, 3))
        price = Decimal(rng.randint(1000, 90000)) / 100
        lines.append({"text": text, "qty": qty, "price": price, "amount": qty * price})
    locale = LOCALES[n % len(LOCALES)]
    name = NAMES[n % len(NAMES)]
    return {
        "number": f"2026-{n:06d}",
        "customer": name,
        "email": f"kunde{n}@example.de",
        "lang": locale[:2],
        "locale": locale,
        "lines": lines,
        "total": sum((line["amount"] for line in lines), Decimal(0)),
        "issued": dt.date(2026, 11, 1) + dt.timedelta(days=n % 28),
        "due": dt.date(2026, 12, 1) + dt.timedelta(days=n % 28),
        "intro": INTRO * 3,
        "outro": OUTRO * 2,
        "terms": TERMS * 2,
        "sender": SENDER_NAME,
    }


# -- jinja2 + babel, as a host without mailbill would set it up --------------------------------


def _jinja_environments() -> tuple[jinja2.Environment, dict[str, Locale]]:
    env = jinja2.Environment(autoescape=jinja2.select_autoescape(default=False, default_for_string=False))
    locales = {name: Locale.parse(name) for name in LOCALES}
    return env, locales


class PlainRenderer:
    """jinja2 templates compiled once; babel filters use the locale of the record being rendered."""

    def __init__(self) -> None:
        self.env, self.locales = _jinja_environments()
        self.html_env = jinja2.Environment(autoescape=True)
        self.locale = self.locales[LOCALES[0]]
        filters: dict[str, Callable[..., str]] = {
            "money": lambda v, c: format_currency(v, c, locale=self.locale),
            "number": lambda v, d=2: format_decimal(v, format="#,##0." + "0" * d, locale=self.locale),
            "date": lambda v, f="medium": format_date(v, format=f, locale=self.locale),
        }
        self.env.filters.update(filters)
        self.html_env.filters.update(filters)
        self.subject = self.env.from_string(SUBJECT)
        self.text = self.env.from_string(TEXT)
        self.html = self.html_env.from_string(HTML)

    def render(self, data: dict[str, Any]) -> tuple[str, str, str]:
        """Subject, text and HTML for one record."""
        self.locale = self.locales[data["locale"]]
        return (
            self.subject.render(data).strip(),
            self.text.render(data),
            self.html.render(data),
        )


def stdlib_message(data: dict[str, Any], rendered: tuple[str, str, str], pdf: bytes) -> EmailMessage:
    """The invoice as ``EmailMessage(policy=default)``, the way the standard library documents it."""
    from email.headerregistry import Address as HeaderAddress
    from email.utils import make_msgid

    subject, text, html = rendered
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = HeaderAddress(SENDER_NAME, addr_spec=SENDER)
    msg["To"] = HeaderAddress(data["customer"], addr_spec=data["email"])
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="bostader.example.se")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(
        pdf, "application", "pdf", filename=f"Rechnung_{data['number']}_{data['customer']}.pdf"
    )
    return msg


# -- the clients ----------------------------------------------------------------------------------


def send_prebuilt(host: str, port: int, count: int, pdf: bytes) -> None:
    """smtplib sending bytes composed once, ``count`` times, on one connection."""
    renderer = PlainRenderer()
    data = record(0)
    payload = stdlib_message(data, renderer.render(data), pdf).as_bytes(policy=email.policy.SMTP)
    with smtplib.SMTP(host, port) as conn:
        for _ in range(count):
            conn.sendmail(SENDER, [data["email"]], payload)


def send_transport_prebuilt(host: str, port: int, count: int, pdf: bytes) -> None:
    """mailbill's ``SMTPTransport.send_many`` sending one message composed once, ``count`` times.

    The sending part of the pipeline alone, on the same terms as :func:`send_prebuilt`
    (no rendering, no composing, no outbox): what the transport costs against smtplib.
    """
    from mailbill import SMTPTransport

    message = mailbill_message(mailbill_templates(), 0, pdf)
    message.as_bytes()  # composed once, before sending starts, as send_prebuilt's bytes are
    transport = SMTPTransport(host, port=port, security="none")
    try:
        for result in transport.send_many(itertools.repeat(message, count)):
            if result.error is not None:
                raise result.error
    finally:
        transport.close()


def send_stdlib(host: str, port: int, count: int, pdf: bytes) -> None:
    """Render, build an EmailMessage and send with smtplib (``send_message``), one connection."""
    renderer = PlainRenderer()
    with smtplib.SMTP(host, port) as conn:
        for n in range(count):
            data = record(n)
            conn.send_message(stdlib_message(data, renderer.render(data), pdf))


def send_django(host: str, port: int, count: int, pdf: bytes) -> None:
    """Render as above, then Django's EmailMultiAlternatives over its SMTP backend, one connection."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
        django.setup()
    from django.core.mail import EmailMultiAlternatives, get_connection

    renderer = PlainRenderer()
    connection = get_connection(host=host, port=port, use_tls=False, fail_silently=False)
    connection.open()
    try:
        for n in range(count):
            data = record(n)
            subject, text, html = renderer.render(data)
            msg = EmailMultiAlternatives(
                subject,
                text,
                f'"{SENDER_NAME}" <{SENDER}>',
                [f"{data['customer']} <{data['email']}>"],
                connection=connection,
            )
            msg.attach_alternative(html, "text/html")
            msg.attach(f"Rechnung_{data['number']}_{data['customer']}.pdf", pdf, "application/pdf")
            msg.send()
    finally:
        connection.close()


def mailbill_templates() -> Any:
    """The same templates in a :class:`mailbill.Templates` set (German and Swedish)."""
    from mailbill import MappingLoader, Templates

    source = {"subject": SUBJECT, "text": TEXT, "html": HTML}
    return Templates(
        MappingLoader({("invoice", "de"): source, ("invoice", "sv"): source}), default_language="de"
    )


def mailbill_message(templates: Any, n: int, pdf: bytes, *, sender: Any = None) -> Any:
    """Render invoice ``n`` with ``templates`` into a :class:`mailbill.OutgoingMessage`."""
    from mailbill import Address, Attachment, OutgoingMessage

    data = record(n)
    rendered = templates.render("invoice", data["locale"].replace("_", "-"), data)
    return OutgoingMessage(
        sender=sender or Address(SENDER, SENDER_NAME),
        to=(Address(data["email"], data["customer"]),),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=(
            Attachment(f"Rechnung_{data['number']}_{data['customer']}.pdf", pdf, "application/pdf"),
        ),
        business_key=f"invoice/{data['number']}",
    )


def mailbill_items(
    templates: Any, numbers: Iterator[int], pdf: bytes, *, transport: str = "default"
) -> Iterator[Any]:
    """Render and compose each invoice into an outbox item (RELEASED: no review step)."""
    from mailbill import Address, NewItem, Status

    sender = Address(SENDER, SENDER_NAME)  # one object for the batch, as a host has
    for n in numbers:
        message = mailbill_message(templates, n, pdf, sender=sender)
        yield NewItem.from_message(message, kind="invoice", transport=transport, status=Status.RELEASED)


def send_mailbill(
    host: str,
    port: int,
    count: int,
    pdf: bytes,
    *,
    durable: bool = True,
    parallel: int = 1,
    pipelining: bool = True,
    chunk: int = 100,
    directory: Path | None = None,
) -> dict[str, float]:
    """The whole pipeline: render + compose + outbox add (in chunks), then dispatch everything.

    Returns the seconds spent preparing and dispatching.
    """
    import time

    from mailbill import Dispatcher, SMTPTransport, SQLiteOutbox

    templates = mailbill_templates()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        outbox = SQLiteOutbox(Path(tmp) / "outbox.sqlite3", durable=durable)
        try:
            start = time.perf_counter()
            prepare_mailbill(outbox, templates, count, pdf, chunk=chunk)
            prepared = time.perf_counter()

            def factory() -> SMTPTransport:
                return SMTPTransport(host, port=port, security="none", pipelining=pipelining)

            report = Dispatcher(outbox, {"default": factory}, parallel=parallel).run_once()
            assert report.sent == count, report
            done = time.perf_counter()
        finally:
            outbox.close()
    return {"prepare": prepared - start, "dispatch": done - prepared}


def send_mailbill_threaded(
    host: str, port: int, count: int, pdf: bytes, *, durable: bool = False, directory: Path | None = None
) -> dict[str, float]:
    """One process, two threads: the host prepares while a dispatcher thread sends.

    The deployment of ``examples/select_and_send.py``: ``Dispatcher.run_forever``
    runs in a thread of the host's process and sends what the host adds, as it
    is added. Returns the seconds until the host had added everything, and the
    seconds after that until the last message was sent.
    """
    import threading
    import time

    from mailbill import SQLiteOutbox

    templates = mailbill_templates()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        outbox = SQLiteOutbox(Path(tmp) / "outbox.sqlite3", durable=durable)
        try:
            worker = threading.Thread(target=dispatch_mailbill, args=(outbox, host, port, count))
            start = time.perf_counter()
            worker.start()
            prepare_mailbill(outbox, templates, count, pdf)
            prepared = time.perf_counter()
            worker.join()
            done = time.perf_counter()
        finally:
            outbox.close()
    return {"prepare": prepared - start, "dispatch": done - prepared}


# -- the two-process deployment: the host prepares, a dispatcher worker sends ---------------------


def warm_templates() -> Any:
    """:func:`mailbill_templates`, compiled and with their locales loaded (30 renders, nothing sent)."""
    templates = mailbill_templates()
    for n in range(30):
        data = record(n)
        templates.render("invoice", data["locale"].replace("_", "-"), data)
    return templates


def prepare_mailbill(outbox: Any, templates: Any, count: int, pdf: bytes, *, chunk: int = 20) -> None:
    """The host's side: render, compose and add ``count`` released invoices, ``chunk`` per commit."""
    numbers = iter(range(count))
    while batch := list(
        mailbill_items(templates, (n for _, n in zip(range(chunk), numbers, strict=False)), pdf)
    ):
        outbox.add_many(batch)


def dispatch_mailbill(outbox: Any, host: str, port: int, count: int, *, parallel: int = 1) -> None:
    """The worker's side, as ``mailbill dispatch --forever`` runs it, until ``count`` were sent.

    ``Dispatcher.run_forever`` polls the outbox (every 5 ms here) when it finds
    nothing due; an ``on_event`` hook stops it after the last message.
    """
    import threading

    from mailbill import Dispatcher, DispatchEvent, SMTPTransport, Status

    stop = threading.Event()
    sent = 0

    counting = threading.Lock()  # with parallel > 1, events come from several worker threads

    def on_event(event: DispatchEvent) -> None:
        nonlocal sent
        if event.new is Status.SENT:
            with counting:
                sent += 1
                if sent >= count:
                    stop.set()

    dispatcher = Dispatcher(
        outbox,
        {"default": lambda: SMTPTransport(host, port=port, security="none")},
        on_event=on_event,
        parallel=parallel,
    )
    dispatcher.run_forever(poll_interval=0.005, stop=stop)
