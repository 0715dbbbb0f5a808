"""The Mailer: one object that wires routing, templates, compose, the outbox and dispatch.

A host application's whole job becomes::

    report = mailer.prepare(documents, batch="dunning-2024-11")   # every document decided
    mailer.release(batch="dunning-2024-11")                       # after a person looked
    mailer.dispatch()                                             # send what is due, at a safe rate

Each step can also be used alone (see :func:`mailbill.decide`, :class:`mailbill.Templates`,
:class:`mailbill.Dispatcher`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mailbill._decision import Decision, decide
from mailbill._dispatch import Dispatcher, DispatchEvent, DispatchReport, TransportSource
from mailbill._documents import Document
from mailbill._models import OutgoingMessage
from mailbill._ratelimit import Rate
from mailbill._retry import RetryPolicy
from mailbill.errors import ConfigurationError, DocumentError, ItemNotFoundError
from mailbill.outbox import NewItem, Outbox, OutboxItem, Status
from mailbill.recipients import Router
from mailbill.senders import SenderCascade
from mailbill.transports.base import BaseTransport

__all__ = ["BatchReport", "Mailer", "Prepared", "Preview", "Rendered", "TemplateRenderer"]

logger = logging.getLogger(__name__)


class Rendered(Protocol):
    """What a template renderer returns: the subject and bodies in the language used."""

    @property
    def subject(self) -> str:
        """The rendered subject line."""

    @property
    def text(self) -> str | None:
        """The plain-text body, if the template has one."""

    @property
    def html(self) -> str | None:
        """The HTML body, if the template has one."""


class TemplateRenderer(Protocol):
    """Anything that renders a document kind in a language; :class:`mailbill.Templates` is one."""

    def render(
        self, kind: str, /, language: str | None, context: Mapping[str, object]
    ) -> Rendered:  # pragma: no cover - a protocol
        """Render the templates of ``kind`` in ``language`` (or its fallback) with ``context``."""
        ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """What :meth:`Mailer.prepare` did with one document.

    Attributes:
        key: The document's business key.
        kind: The document kind.
        outcome: ``"mail"`` (in the outbox to be sent), ``"paper"`` (in the outbox as
            PAPER, with :attr:`reason`), ``"exists"`` (the outbox already had this key:
            nothing was added) or ``"error"`` (not added; :attr:`reason` says why).
        status: The item's status in the outbox, when there is an item.
        item_id: The outbox item id, when there is an item.
        reason: The paper reason or the error, for a person.
        error: The exception, for ``"error"``.
    """

    key: str
    kind: str
    outcome: Literal["mail", "paper", "exists", "error"]
    status: Status | None = None
    item_id: int | None = None
    reason: str = ""
    error: DocumentError | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BatchReport:
    """The result of :meth:`Mailer.prepare`: one :class:`Prepared` per document, in order.

    Attributes:
        batch: The batch id the items were added under.
        documents: What happened to each document.
    """

    batch: str
    documents: tuple[Prepared, ...]

    def count(self, outcome: str, /) -> int:
        """How many documents had ``outcome`` (``"mail"``, ``"paper"``, ``"exists"``, ``"error"``)."""
        return sum(1 for p in self.documents if p.outcome == outcome)

    @property
    def errors(self) -> tuple[Prepared, ...]:
        """The documents that could not be prepared (fix them and prepare again)."""
        return tuple(p for p in self.documents if p.outcome == "error")

    def __str__(self) -> str:
        parts = [f"{self.count(o)} {o}" for o in ("mail", "paper", "exists", "error") if self.count(o)]
        return f"batch {self.batch}: " + (", ".join(parts) or "no documents")


@dataclass(frozen=True, slots=True)
class Preview:
    """A document as it would be sent, without touching the outbox.

    Attributes:
        decision: Who sends and who receives, or paper and why.
        message: The composed message (``None`` for paper).
    """

    decision: Decision
    message: OutgoingMessage | None

    def explain(self) -> str:
        """The decision's explanation, for support staff."""
        return self.decision.explain()


def _decision_json(decision: Decision, language: str | None) -> str:
    data: dict[str, object] = {
        "outcome": "paper" if decision.is_paper else "mail",
        "to": [str(a) for a in decision.to],
        "cc": [str(a) for a in decision.cc],
        "bcc": [str(a) for a in decision.bcc],
        "paper_reason": decision.paper_reason.value if decision.paper_reason else None,
        "language": language,
        "explain": decision.explain(),
    }
    if decision.sender is not None:
        data["from"] = str(decision.sender.sender.address)
        data["sender_rule"] = decision.sender.rule
    return json.dumps(data, ensure_ascii=False)


class Mailer:
    """Prepare, release and dispatch business documents by e-mail.

    Example:
        >>> mailer = Mailer(  # doctest: +SKIP
        ...     SQLiteOutbox("outbox.db"),
        ...     templates=Templates(DirectoryLoader("templates"), default_language="de"),
        ...     senders=SenderCascade([fixed("Mahnwesen <mahnung@example.de>")]),
        ...     transports=SMTPTransport("smtp.example.de", port=587, username="...", password="..."),
        ...     rates=["1 per 60 s"],
        ... )
        >>> report = mailer.prepare(documents, batch="dunning-2024-11")  # doctest: +SKIP

    Args:
        outbox: Where prepared messages wait and their history is kept.
        templates: Renders subject and bodies per document kind and language.
        senders: Decides the From address (and which transport account to use).
        router: Decides the recipients, or paper; the default sends to every address
            of every party of the document.
        transports: One transport, or transports by account name (a Sender's
            ``transport`` picks one; documents without go to ``default_transport``).
        default_transport: The account name used when the sender names none.
        rates: Rate limits, for every account or per account name.
        retry: The retry policy after transient errors.
        review: Whether prepared documents wait as DRAFT for :meth:`release` (the
            default) or are released at once.
        context: Extra template context shared by every document (the company's
            name, bank details), under the document's own fields.
        on_event: Called for every status change the dispatcher makes.
        dispatcher_options: Further keyword arguments for :class:`mailbill.Dispatcher`
            (``clock``, ``sleep``, ``parallel``, ``lease_seconds``, ...).
    """

    def __init__(
        self,
        outbox: Outbox,
        /,
        *,
        templates: TemplateRenderer,
        senders: SenderCascade,
        transports: Mapping[str, TransportSource] | BaseTransport,
        router: Router | None = None,
        default_transport: str = "default",
        rates: Mapping[str, Sequence[Rate | str]] | Sequence[Rate | str] = (),
        retry: RetryPolicy | None = None,
        review: bool = True,
        context: Mapping[str, object] | None = None,
        on_event: Callable[[DispatchEvent], None] | None = None,
        dispatcher_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(outbox, Outbox):
            raise ConfigurationError(f"Mailer needs an Outbox, got {type(outbox).__name__}")
        if not isinstance(transports, BaseTransport) and default_transport not in transports:
            raise ConfigurationError(
                f"default_transport {default_transport!r} is not one of the transports {sorted(transports)!r}"
            )
        self.outbox = outbox
        self.templates = templates
        self.senders = senders
        self.router = router if router is not None else Router()
        self.default_transport = default_transport
        self.review = review
        self._context = dict(context or {})
        self.dispatcher = Dispatcher(
            outbox,
            transports,
            rates=rates,
            retry=retry,
            on_event=on_event,
            **dict(dispatcher_options or {}),
        )

    def __repr__(self) -> str:
        return f"<Mailer outbox={type(self.outbox).__name__} dispatcher={self.dispatcher!r}>"

    # -- one document ------------------------------------------------------------

    def decide(self, document: Document, /) -> Decision:
        """Who sends and who receives ``document``, or paper and why (nothing is stored)."""
        return decide(document, router=self.router, senders=self.senders)

    def compose(self, document: Document, decision: Decision, /) -> OutgoingMessage:
        """Render and compose the message for a document that goes by mail.

        Raises:
            DocumentError: the decision is paper, a template is missing or fails,
                or the message cannot be built (the error says which).
        """
        if decision.sender is None or decision.is_paper:
            raise DocumentError(f"document {document.key!r} goes on paper; there is no message")
        sender = decision.sender.sender
        context: dict[str, object] = {**self._context, **document.fields}
        context.setdefault(
            "document",
            {"kind": document.kind, "key": document.key, "reference": document.reference},
        )
        rendered = self.templates.render(document.kind, document.template_language, context)
        return OutgoingMessage(
            sender=sender.address,
            to=decision.to,
            cc=decision.cc,
            bcc=decision.bcc,
            reply_to=sender.reply_to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=document.attachments,
            business_key=document.key,
            envelope_sender=sender.envelope_sender,
        )

    def preview(self, document: Document, /) -> Preview:
        """Decide and compose ``document`` as it would be sent, storing nothing.

        Raises:
            DocumentError: as :meth:`compose`.
        """
        decision = self.decide(document)
        message = None if decision.is_paper else self.compose(document, decision)
        return Preview(decision, message)

    def explain(self, document: Document, /) -> str:
        """A readable explanation of who sends ``document`` to whom, or why it goes on paper."""
        return self.decide(document).explain()

    # -- batches -----------------------------------------------------------------

    def _item_for(self, document: Document, batch: str, release: bool) -> NewItem:
        decision = self.decide(document)
        language = document.template_language
        kind, reference = document.kind, document.reference or ""
        if decision.is_paper:
            assert decision.paper_reason is not None
            return NewItem.paper(
                document.key,
                decision.paper_reason.value,
                batch=batch,
                kind=kind,
                reference=reference,
                decision=_decision_json(decision, language),
            )
        assert decision.sender is not None
        message = self.compose(document, decision)
        return NewItem.from_message(
            message,
            transport=decision.sender.sender.transport or self.default_transport,
            batch=batch,
            kind=kind,
            reference=reference,
            decision=_decision_json(decision, language),
            status=Status.RELEASED if release else Status.DRAFT,
        )

    def prepare(
        self,
        documents: Iterable[Document],
        /,
        *,
        batch: str,
        release: bool | None = None,
        chunk_size: int = 100,
    ) -> BatchReport:
        """Decide, render and compose every document and put it into the outbox.

        Every document gets an outcome: mail (DRAFT, or RELEASED without review),
        paper (stored as PAPER with its reason), exists (its business key is
        already in the outbox: running the same run twice adds nothing), or error
        (a template or data problem; nothing stored, the batch goes on).

        Documents are stored ``chunk_size`` at a time, each chunk in one
        transaction (:meth:`Outbox.add_many`): with a durable outbox, one flush to
        disk per chunk instead of one per document. If the run stops half-way,
        the documents of the unfinished chunk are not stored; preparing the same
        documents again adds exactly what is missing.

        Args:
            documents: The documents of this run (any iterable; read once, in order).
            batch: The batch id (``"dunning-2024-11"``) to release or list them by.
            release: Release at once; default: not when the Mailer has ``review``.
            chunk_size: Documents stored per transaction (at least 1).

        Raises:
            ConfigurationError: ``chunk_size`` is below 1.
        """
        if chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be at least 1, got {chunk_size}")
        do_release = (not self.review) if release is None else release
        results: list[Prepared | None] = []
        waiting: list[tuple[int, Document, NewItem]] = []
        waiting_keys: set[str] = set()

        def store_waiting() -> None:
            if not waiting:
                return
            stored_items = self.outbox.add_many([item for _, _, item in waiting])
            for (index, document, _), stored in zip(waiting, stored_items, strict=True):
                outcome: Literal["mail", "paper"] = "paper" if stored.status is Status.PAPER else "mail"
                results[index] = Prepared(
                    document.key, document.kind, outcome, stored.status, stored.id, stored.reason
                )
            waiting.clear()
            waiting_keys.clear()

        for document in documents:
            if document.key in waiting_keys:
                store_waiting()  # the same key again: store the first, then this one "exists"
            try:
                existing = self.outbox.get_by_key(document.key)
            except ItemNotFoundError:
                existing = None
            if existing is not None:
                results.append(Prepared(document.key, document.kind, "exists", existing.status, existing.id))
                continue
            try:
                item = self._item_for(document, batch, do_release)
            except DocumentError as exc:
                logger.warning("document %s could not be prepared: %s", document.key, exc)
                results.append(Prepared(document.key, document.kind, "error", reason=str(exc), error=exc))
                continue
            results.append(None)  # filled in when its chunk is stored
            waiting.append((len(results) - 1, document, item))
            waiting_keys.add(document.key)
            if len(waiting) >= chunk_size:
                store_waiting()
        store_waiting()
        done = tuple(r for r in results if r is not None)
        assert len(done) == len(results)
        return BatchReport(batch, done)

    def release(self, *, batch: str | None = None, ids: Iterable[int] | None = None) -> int:
        """Release DRAFT items for sending: a whole batch, or the ones a person selected.

        Returns:
            How many items were released.
        """
        if batch is None and ids is None:
            raise ConfigurationError("release needs a batch or item ids")
        return self.outbox.release(list(ids or ()), batch=batch)

    def dispatch(self) -> DispatchReport:
        """Send what is due now, within the rate limits (one dispatcher run)."""
        return self.dispatcher.run_once()

    def send(self, document: Document, /, *, batch: str = "send-now") -> OutboxItem:
        """E-mail one document now: prepare it released, run the dispatcher once, return its item.

        The item is kept in the outbox like any other (history, archive). The run
        obeys the rate limits and also sends other items that are due. A document
        whose key is already in the outbox is not sent again (use
        ``outbox.resend(key)`` for that); its current item is returned.

        Raises:
            DocumentError: the document could not be prepared (template, data).
        """
        prepared = self.prepare([document], batch=batch, release=True).documents[0]
        if prepared.error is not None:
            raise prepared.error
        if prepared.outcome == "mail":
            self.dispatch()
        return self.outbox.get_by_key(document.key)

    def pending(self, *, batch: str | None = None) -> list[OutboxItem]:
        """Items released but not sent yet (the reminder list)."""
        return self.outbox.pending(batch=batch)
