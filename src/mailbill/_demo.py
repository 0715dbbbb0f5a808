"""The demo behind ``python -m mailbill demo``: a small invoice run on the embedded defaults.

Eight invoices for customers in five languages are prepared into a SQLite outbox,
released, and dispatched at a limited rate into an ``.eml`` pickup folder. Three
of them cannot be e-mailed (no address, an invalid one, a customer who wants
paper) and go on paper with their reason. Everything lands under one folder.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from mailbill._dispatch import DispatchEvent
from mailbill._documents import Document, Party
from mailbill._mailer import Mailer
from mailbill._models import Attachment
from mailbill.outbox import SQLiteOutbox, Status
from mailbill.recipients import Router
from mailbill.senders import SenderCascade, field_rule, fixed
from mailbill.templates import MappingLoader, Templates
from mailbill.transports.filedrop import FileDropTransport

__all__ = ["run_demo"]

_TEMPLATES = {
    ("invoice", "sv"): {
        "subject": "Faktura {{ number }} från {{ company }}",
        "text": "Hej {{ customer.name }}!\n\nHär kommer faktura {{ number }} på "
        "{{ total|money('SEK') }}, att betala senast {{ due|date('long') }}.\n\nVänliga hälsningar\n"
        "{{ company }}\n",
        "html": "<p>Hej {{ customer.name }}!</p><p>Här kommer faktura <b>{{ number }}</b> på "
        "{{ total|money('SEK') }}, att betala senast {{ due|date('long') }}.</p>",
    },
    ("invoice", "de"): {
        "subject": "Rechnung {{ number }} von {{ company }}",
        "text": "Guten Tag {{ customer.name }},\n\nanbei Rechnung {{ number }} über "
        "{{ total|money('EUR') }}, zahlbar bis {{ due|date('long') }}.\n\nMit freundlichen Grüßen\n"
        "{{ company }}\n",
    },
    ("invoice", "fr"): {
        "subject": "Facture {{ number }} \u2013 {{ company }}",
        "text": "Bonjour,\n\nVous trouverez ci-joint la facture de {{ customer.name }} pour la période "
        "de {{ due|period }} : {{ total|money('EUR') }}.\n\nCordialement\n{{ company }}\n",
    },
    ("invoice", "nl"): {
        "subject": "Factuur {{ number }} van {{ company }}",
        "text": "Beste {{ customer.name }},\n\nIn de bijlage vindt u factuur {{ number }} van "
        "{{ total|money('EUR') }}, te betalen vóór {{ due|date('long') }}.\n\nMet vriendelijke groet\n"
        "{{ company }}\n",
    },
    ("invoice", "en"): {
        "subject": "Invoice {{ number }} from {{ company }}",
        "text": "Dear {{ customer.name }},\n\nPlease find attached invoice {{ number }} for "
        "{{ total|money('EUR') }}, due {{ due|date('long') }}.\n\nKind regards\n{{ company }}\n",
    },
}

# name, e-mail addresses, language, wants e-mail, total
_CUSTOMERS: tuple[tuple[str, tuple[str, ...], str | None, bool, str], ...] = (
    ("Anna Andersson", ("anna.andersson@example.se",), "sv", True, "1234.50"),
    ("Jürgen Müller", ("j.mueller@example.de",), "de-CH", True, "89.90"),
    ("MAILLY Josiane", ("josiane.mailly@example.fr", "tuteur.mailly@example.fr"), "fr", True, "2140.00"),
    ("Mevrouw Janssen", ("m.janssen@example.nl",), "nl-BE", True, "310.25"),
    ("Nikos Papadopoulos", ("nikos@example.gr",), "el", True, "75.00"),
    ("Björn Berg", (), "sv", True, "450.00"),
    ("Claire Dubois", ("claire.dubois(at)example.fr",), "fr", True, "99.00"),
    ("Oskar Olsson", ("oskar@example.se",), "sv", False, "640.00"),
)


def _pdf(title: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _documents() -> list[Document]:
    documents = []
    for number, (name, emails, language, wants_email, total) in enumerate(_CUSTOMERS, start=1001):
        documents.append(
            Document(
                "invoice",
                f"invoice/2024/{number}",
                recipients=(Party(name, emails, language=language, opt_in={"invoice": wants_email}),),
                fields={
                    "number": number,
                    "customer": {"name": name},
                    "total": Decimal(total),
                    "due": date(2024, 10, 31),
                    "company": "Exempel Fastigheter AB",
                },
                attachments=(Attachment.from_bytes(_pdf(f"Invoice {number}"), f"faktura-{number}.pdf"),),
                reference=f"Invoice {number}",
                context={"company": {"email": "Exempel Fastigheter <faktura@example.se>"}},
            )
        )
    return documents


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did: where its files are and each document's final status."""

    folder: Path
    statuses: dict[str, Status]


def run_demo(
    folder: str | Path = "mailbill-demo",
    /,
    *,
    keep: bool = False,
    rate: str = "20/second",
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo batch into ``folder`` and report each document's outcome through ``echo``.

    Args:
        folder: Where the outbox (``outbox.db``) and the pickup folder go.
        keep: Keep an earlier demo's outbox (a second run then adds nothing: the
            business keys are already there).
        rate: The dispatcher's rate limit.
        echo: Where the report lines go.
    """
    root = Path(folder)
    if not keep and root.exists():
        for name in ("outbox.db", "outbox.db-wal", "outbox.db-shm"):
            (root / name).unlink(missing_ok=True)
        shutil.rmtree(root / "pickup", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    outbox = SQLiteOutbox(root / "outbox.db", archive=True)
    done: list[str] = []

    def progress(event: DispatchEvent) -> None:
        if event.new is not Status.SENDING:
            done.append(event.key)
            bar = "#" * len(done) + "." * max(0, released - len(done))
            echo(f"  [{bar}] {event.key} {event.new.value}")

    pickup = FileDropTransport(root / "pickup", name="default")
    mailer = Mailer(
        outbox,
        templates=Templates(MappingLoader(_TEMPLATES), default_language="en", fallbacks={"el": ["en"]}),
        senders=SenderCascade(
            [field_rule("company.email", name="company address"), fixed("noreply@example.se")]
        ),
        router=Router(require_opt_in=True),
        transports=pickup,
        rates=[rate],
        on_event=progress,
    )
    documents = _documents()
    echo(f"Preparing {len(documents)} invoices into {root / 'outbox.db'}")
    report = mailer.prepare(documents, batch="invoices-2024-10")
    echo(f"  {report}")
    released = 0
    released = mailer.release(batch="invoices-2024-10")
    echo(f"Released {released} for sending; dispatching at {rate} into {root / 'pickup'}")
    dispatch = mailer.dispatch()
    echo(f"  sent or handed off: {dispatch.sent}")
    echo("")
    echo(f"{'document':<18} {'customer':<20} {'status':<11} detail")
    statuses: dict[str, Status] = {}
    for document in documents:
        item = outbox.get_by_key(document.key)
        statuses[document.key] = item.status
        customer = document.recipients[0].name
        if item.status is Status.PAPER:
            detail = f"paper: {item.reason}"
        elif item.status in (Status.SENT, Status.HANDED_OFF):
            detail = "to " + ", ".join(item.recipients)
        else:
            detail = item.reason
        echo(f"{document.key:<18} {customer:<20} {item.status.value:<11} {detail}")
    outbox.close()
    echo("")
    echo(f"The .eml files are in {root / 'pickup'}; the outbox (with an archive) is {root / 'outbox.db'}.")
    return DemoResult(root, statuses)
