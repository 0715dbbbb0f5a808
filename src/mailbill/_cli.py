"""The command line: ``python -m mailbill`` (or ``mailbill``).

Exit codes: 0 success; 1 the command ran but something failed (items failed, a
check did not pass); 2 bad usage or configuration; 3 an item was not found.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mailbill._config import Config
from mailbill._rebuild import message_from_item
from mailbill._version import __version__
from mailbill.errors import ConfigurationError, DocumentError, ItemNotFoundError, MailbillError
from mailbill.outbox import Outbox, OutboxItem, Status, outbox_from_url
from mailbill.transports import mask_url

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbill", description="E-mail business documents: inspect and run a mailbill outbox."
    )
    parser.add_argument("--version", action="version", version=f"mailbill {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--config", type=Path, help="a mailbill.toml (outbox, transports, dispatch)")
    parser.add_argument(
        "--outbox", help="outbox URL: sqlite:///path.db or postgresql://... (overrides config)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run a demo invoice batch into ./mailbill-demo")
    demo.add_argument("--dir", default="mailbill-demo", help="where the demo's files go")
    demo.add_argument("--keep", action="store_true", help="keep an earlier demo's outbox")
    demo.add_argument("--rate", default="20/second", help="the demo dispatcher's rate limit")

    status = sub.add_parser("status", help="count items per status")
    status.add_argument("--batch")

    listing = sub.add_parser("list", help="list items")
    listing.add_argument("--status", choices=[s.value for s in Status])
    listing.add_argument("--batch")
    listing.add_argument("--pending", action="store_true", help="released but not sent (reminder list)")
    listing.add_argument("--limit", type=int, default=50)

    show = sub.add_parser("show", help="show one item with its history and explanation")
    show.add_argument("item", help="an item id or a business key")

    release = sub.add_parser("release", help="release DRAFT items (a batch, or ids)")
    release.add_argument("ids", nargs="*", type=int)
    release.add_argument("--batch")

    cancel = sub.add_parser("cancel", help="cancel items")
    cancel.add_argument("ids", nargs="+", type=int)
    cancel.add_argument("--reason", default="cancelled from the command line")

    resend = sub.add_parser("resend", help="send a document again (a new version, history kept)")
    resend.add_argument("key")

    dispatch = sub.add_parser("dispatch", help="send what is due (needs --config with transports)")
    dispatch.add_argument("--forever", action="store_true", help="keep polling until stopped")
    dispatch.add_argument("--poll", type=float, help="seconds between polls (default from config)")

    preview = sub.add_parser("preview", help="render a template with sample fields; send nothing")
    preview.add_argument("kind", help="the document kind (the template folder's name)")
    preview.add_argument("--templates", type=Path, required=True, help="the templates folder")
    preview.add_argument("--language", help="the recipient's language tag (sv, de-CH, ...)")
    preview.add_argument("--default-language", default="en", help="the language of last resort")
    preview.add_argument("--context", type=Path, help="a JSON file with the merge fields")

    check = sub.add_parser("check-transport", help="connect, negotiate TLS, log in; send nothing")
    check.add_argument("url", nargs="?", help="a transport URL; default: the config's first transport")
    check.add_argument("--password-env", help="environment variable with the password")
    return parser


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_file(args.config) if args.config else Config()
    return config


def _outbox(args: argparse.Namespace) -> Outbox:
    return outbox_from_url(args.outbox or _config(args).outbox)


def _line(item: OutboxItem) -> str:
    when = item.updated_at.strftime("%Y-%m-%d %H:%M") if item.updated_at else ""
    return (
        f"{item.id:>6}  {item.status.value:<10} {item.key:<28} {item.batch or '':<18} {when}  "
        f"{item.reason[:60]}"
    )


def _find_item(outbox: Outbox, ref: str) -> OutboxItem:
    if ref.isdigit():
        try:
            return outbox.get(int(ref))
        except ItemNotFoundError:
            pass
    return outbox.get_by_key(ref)


def _cmd_show(outbox: Outbox, ref: str) -> int:
    item = _find_item(outbox, ref)
    print(f"item {item.id}  key {item.key}  version {item.version}  status {item.status.value}")
    print(f"  kind {item.kind or '-'}  reference {item.reference or '-'}  batch {item.batch or '-'}")
    print(f"  transport {item.transport}  message-id {item.message_id or '-'}")
    print(f"  recipients {', '.join(item.recipients) or '-'}")
    if item.message:
        try:  # the headers stored with the item, or read from its bytes
            message = message_from_item(item, bodies=False)
        except DocumentError as exc:
            print(f"  (the stored message cannot be read back: {exc})")
        else:
            print(f"  from {message.sender}")
            print(f"  subject {message.subject}")
    if item.reason:
        print(f"  reason {item.reason}")
    for version in outbox.history(item.key):
        for attempt in version.attempts:
            print(f"  v{version.version} {attempt}")
    try:
        explain = json.loads(item.decision).get("explain")
    except (ValueError, AttributeError):
        explain = None
    if explain:
        print("Decision:")
        for line in str(explain).splitlines():
            print(f"  {line}")
    return EXIT_OK


def _cmd_dispatch(args: argparse.Namespace) -> int:
    from mailbill._dispatch import Dispatcher
    from mailbill._retry import RetryPolicy
    from mailbill.transports import transport_from_url

    config = _config(args)
    if not config.transports:
        raise ConfigurationError("dispatch needs --config with at least one [transports.NAME] table")
    transports = {}
    for settings in config.transports:
        options: dict[str, object] = {}
        password = settings.secret("password")
        if password is not None:
            options["password"] = password
        if settings.token_env is not None:
            # read the token at each login, so a refreshed token in the environment is used
            options["oauth2_token"] = lambda s=settings: s.secret("token") or ""
        transports[settings.name] = transport_from_url(settings.url, **options)
    with _outbox(args) as outbox:
        dispatcher = Dispatcher(
            outbox,
            transports,
            # a shared outbox (PostgreSQL) also shares the rate limits between all its workers
            limiter_factory=getattr(outbox, "rate_limiter", None),
            rates={s.name: s.rates for s in config.transports},
            retry=RetryPolicy(max_attempts=config.dispatch.max_attempts),
            lease_seconds=config.dispatch.lease_seconds,
            batch_size=config.dispatch.batch_size,
            on_event=lambda e: print(f"{e.item_id:>6} {e.key:<28} {e.old.value} -> {e.new.value} {e.detail}"),
        )
        if args.forever:
            dispatcher.run_forever(
                poll_interval=args.poll or config.dispatch.poll_interval, handle_signals=True
            )
            return EXIT_OK
        report = dispatcher.run_once()
        counts = ", ".join(f"{n} {s.value}" for s, n in sorted(report.counts.items()))
        print(f"dispatched: {counts or 'nothing due'}")
        for failure in report.failures:
            print(f"  {failure.key}: {failure.status.value}: {failure.reason}")
        for account, error in report.stopped_accounts.items():
            print(f"  account {account} stopped: {error}")
        return EXIT_FAILED if report.stopped_accounts else EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    import os

    from mailbill.transports import SMTPTransport, transport_from_url

    options: dict[str, object] = {}
    if args.url:
        url = args.url
        if args.password_env:
            options["password"] = os.environ.get(args.password_env, "")
    else:
        config = _config(args)
        if not config.transports:
            raise ConfigurationError("check-transport needs a URL or --config with a transport")
        url = config.transports[0].url
        password = config.transports[0].secret("password")
        if password is not None:
            options["password"] = password
    transport = transport_from_url(url, **options)
    if not isinstance(transport, SMTPTransport):
        print(f"{mask_url(url)}: nothing to check for a {type(transport).__name__}")
        return EXIT_OK
    report = transport.check()
    print(f"{mask_url(url)}: OK")
    print(f"  TLS: {report.tls_version or 'no'}; AUTH: {' '.join(report.auth_mechanisms) or '-'}")
    print(f"  logged in: {'yes' if report.authenticated else 'no'}; SMTPUTF8: {report.smtputf8}")
    print(f"  PIPELINING: {report.pipelining}; SIZE: {report.size_limit or '-'}")
    return EXIT_OK


def _cmd_preview(args: argparse.Namespace) -> int:
    from mailbill.templates import DirectoryLoader, Templates

    context: dict[str, object] = {}
    if args.context is not None:
        try:
            loaded = json.loads(args.context.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the context {str(args.context)!r}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"{str(args.context)!r} must hold a JSON object")
        context = loaded
    templates = Templates(DirectoryLoader(args.templates), default_language=args.default_language)
    rendered = templates.preview(args.kind, args.language, context)
    print(f"template {rendered.kind}/{rendered.language_used} (tried {', '.join(rendered.tried)})")
    print(f"Subject: {rendered.subject}")
    if rendered.text is not None:
        print(f"\n{rendered.text}")
    if rendered.html is not None:
        print(f"\n--- HTML ---\n{rendered.html}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailbill._demo import run_demo

        result = run_demo(args.dir, keep=args.keep, rate=args.rate)
        return EXIT_OK if result.statuses else EXIT_FAILED
    if args.command == "dispatch":
        return _cmd_dispatch(args)
    if args.command == "check-transport":
        return _cmd_check(args)
    if args.command == "preview":
        return _cmd_preview(args)
    with _outbox(args) as outbox:
        if args.command == "status":
            counts = outbox.counts(batch=args.batch)
            for status in Status:
                print(f"{status.value:<11} {counts.get(status, 0)}")
            return EXIT_OK
        if args.command == "list":
            if args.pending:
                items = outbox.pending(batch=args.batch)[: args.limit]
            else:
                items = outbox.find(
                    status=Status(args.status) if args.status else None, batch=args.batch, limit=args.limit
                )
            for item in items:
                print(_line(item))
            return EXIT_OK
        if args.command == "show":
            return _cmd_show(outbox, args.item)
        if args.command == "release":
            if not args.ids and not args.batch:
                raise ConfigurationError("release needs item ids or --batch")
            print(f"released {outbox.release(args.ids, batch=args.batch)}")
            return EXIT_OK
        if args.command == "cancel":
            print(f"cancelled {outbox.cancel(args.ids, reason=args.reason)}")
            return EXIT_OK
        if args.command == "resend":
            item = outbox.resend(args.key)
            print(f"resend: item {item.id} version {item.version} {item.status.value}")
            return EXIT_OK
    raise ConfigurationError(f"unknown command {args.command!r}")  # pragma: no cover - argparse checks


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return _run(args)
    except ItemNotFoundError as exc:
        print(f"mailbill: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except ConfigurationError as exc:
        print(f"mailbill: configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MailbillError as exc:
        print(f"mailbill: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
