"""Compose alone: the fast writer against the standard library, on a realistic invoice.

The invoice: a 2 KB text body, a 6 KB HTML body, a 40 KB PDF, a non-ASCII subject
and names. Both paths compose the same prebuilt ``OutgoingMessage`` (building it,
which checks the PDF with pypdf, is not part of compose), in the same run:

- ``stdlib``: ``EmailMessage`` built by mailbill's reference and ``as_bytes()``;
- ``stdlib-direct``: a hand-written ``EmailMessage`` (``policy.default``) loop, as a
  host application without mailbill would write it;
- ``fast``: mailbill's writer (``OutgoingMessage.as_bytes()`` without its cache).

Run: ``python benchmarks/bench_compose.py [iterations] [--quick]``. Prints messages per second
and the ratio; exits 0.
"""

from __future__ import annotations

import email.policy
import io
import random
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage

import pypdf

from mailbill import Address, Attachment, OutgoingMessage
from mailbill._compose import reference_bytes, to_bytes


def make_pdf(size: int = 40_000) -> bytes:
    """A real one-page PDF of about ``size`` bytes (an embedded file pads it)."""
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("ledger.bin", random.Random(1).randbytes(size - 1500))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_invoice() -> OutgoingMessage:
    """The invoice message, built once."""
    line = "Hyra för lägenhet 1102, Storgatan 5: 8 450,00 kr (förfallodag 30 juni)\n"
    text = "Hej Märta Ängström!\n\n" + line * (2048 // len(line))
    row = "<tr><td>Hyra för lägenhet 1102</td><td class='amount'>8&nbsp;450,00&nbsp;kr</td></tr>\n"
    html = (
        "<html><body><h1>Faktura 2025-1001</h1><table>\n"
        + row * (6144 // len(row))
        + "</table></body></html>"
    )
    return OutgoingMessage(
        sender=Address("faktura@bostäder.example.se", "Åsa Öberg, Bostäder i Söderhamn AB"),
        to=(Address("marta@example.se", "Märta Ängström"),),
        reply_to=(Address("kundtjanst@example.se", "Kundtjänst"),),
        subject="Faktura 2025-1001 från Bostäder i Söderhamn \u2013 förfaller 30 juni",
        text=text,
        html=html,
        attachments=(Attachment.from_bytes(make_pdf(), "Faktura_2025-1001_Ängström.pdf"),),
        headers=(("X-Mailbill-Key", "invoice/2025/1001"),),
    )


def stdlib_direct(message: OutgoingMessage) -> bytes:
    """What a host would write with the standard library alone (policy.default)."""
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = str(message.sender)
    msg["To"] = ", ".join(str(a) for a in message.to)
    msg["Reply-To"] = ", ".join(str(a) for a in message.reply_to)
    msg["Subject"] = message.subject
    msg["Message-ID"] = message.message_id
    msg.set_content(message.text or "")
    msg.add_alternative(message.html or "", subtype="html")
    for att in message.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.content, maintype, subtype, filename=att.filename)
    return msg.as_bytes(policy=email.policy.SMTP)


def rate(func: Callable[[OutgoingMessage], bytes], message: OutgoingMessage, iterations: int) -> float:
    """Best of three runs, in messages per second."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(iterations):
            func(message)
        best = min(best, time.perf_counter() - start)
    return iterations / best


def main(argv: list[str]) -> int:
    # `nox -s bench -- --quick` passes the same flags to every script
    numbers = [a for a in argv[1:] if not a.startswith("-")]
    iterations = int(numbers[0]) if numbers else 100 if "--quick" in argv else 300
    message = make_invoice()
    size = len(to_bytes(message))
    print(f"invoice: {size} bytes on the wire, {iterations} iterations, best of 3")
    results = {
        "stdlib (mailbill reference)": rate(reference_bytes, message, iterations),
        "stdlib-direct (policy.default)": rate(stdlib_direct, message, iterations),
        "fast (mailbill)": rate(to_bytes, message, iterations),
    }
    for name, per_second in results.items():
        print(f"{name:32} {per_second:10.0f} messages/s  {1000 / per_second:7.3f} ms/message")
    fast = results["fast (mailbill)"]
    print(f"ratio fast / stdlib reference:   {fast / results['stdlib (mailbill reference)']:.1f}x")
    print(f"ratio fast / stdlib-direct:      {fast / results['stdlib-direct (policy.default)']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
