"""The built-in sender rules: a field of the document, a table by tenant and kind, a fixed sender."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mailbill._addresses import parse_many
from mailbill._documents import Document, lookup_path
from mailbill._models import Address
from mailbill._sender import Sender, SenderRule, configured_sender
from mailbill.errors import ConfigurationError, MailbillError

__all__ = ["field_rule", "fixed", "mapping_rule"]


class _FieldRule:
    """A rule reading the sender's address from a dotted path of the document."""

    def __init__(
        self,
        path: str,
        name: str,
        display_name_from: str | None,
        reply_to: tuple[Address, ...],
        transport: str | None,
    ) -> None:
        self.path = path
        self.name = name
        self.display_name_from = display_name_from
        self.reply_to = reply_to
        self.transport = transport
        self.describe_missing = f"{path} is empty"

    def __call__(self, document: Document) -> Sender | None:
        value = lookup_path(document, self.path)
        if value is None or value == "":
            return None
        if isinstance(value, Sender):
            return value
        address = value if isinstance(value, Address) else Address.parse(str(value).strip())
        if self.display_name_from is not None and not address.name:
            display = lookup_path(document, self.display_name_from)
            if isinstance(display, str) and display.strip():
                address = Address(address.email, display)
        return Sender(address, self.reply_to, self.transport)

    def __repr__(self) -> str:
        return f"field_rule({self.path!r}, name={self.name!r})"


def field_rule(
    path: str,
    /,
    *,
    name: str | None = None,
    display_name_from: str | None = None,
    reply_to: str | Address | Iterable[str | Address] = (),
    transport: str | None = None,
) -> SenderRule:
    """A rule taking the sender from a dotted path in the document's context or fields.

    Args:
        path: Where the address is, e.g. ``"case_manager.email"``.
        name: The rule's name in traces; the path by default.
        display_name_from: A path to the display name (``"case_manager.name"``),
            used when the address has none, so the mail is sent "in the name of" them.
        reply_to: Reply-To addresses to add to the sender.
        transport: The transport (account) to send through.

    Raises:
        ConfigurationError: ``path`` is empty or a Reply-To address is invalid.
    """
    if not path or not isinstance(path, str):
        raise ConfigurationError("field_rule needs a dotted path such as 'case_manager.email'")
    try:
        replies = parse_many(reply_to)
    except MailbillError as exc:
        raise ConfigurationError(f"field_rule({path!r}): invalid reply_to: {exc}") from exc
    return _FieldRule(path, name or path, display_name_from, replies, transport)


class _MappingRule:
    """A rule looking the sender up by tenant and kind."""

    def __init__(self, table: Mapping[object, Sender], name: str) -> None:
        self.table = table
        self.name = name
        self.describe_missing = "no entry for this tenant and kind"

    def __call__(self, document: Document) -> Sender | None:
        for key in ((document.tenant, document.kind), document.tenant, (None, document.kind)):
            if key is not None and key in self.table:
                return self.table[key]
        return None

    def __repr__(self) -> str:
        return f"mapping_rule(<{len(self.table)} entries>, name={self.name!r})"


def mapping_rule(
    table: Mapping[str | tuple[str | None, str | None], Sender | Address | str],
    /,
    *,
    name: str = "mapping",
) -> SenderRule:
    """A rule looking the sender up by the document's tenant and/or kind.

    Keys are a tenant (``"facility-7"``), a ``(tenant, kind)`` pair, or
    ``(None, kind)`` for a kind whatever the tenant. The most specific key wins:
    ``(tenant, kind)``, then ``tenant``, then ``(None, kind)``.

    Example (003: one sender per facility):
        >>> rule = mapping_rule({"les-tilleuls": "Les Tilleuls <factures@tilleuls.example>"})
        >>> str(rule(Document("invoice", "i/1", tenant="les-tilleuls")))
        'Les Tilleuls <factures@tilleuls.example>'

    Raises:
        ConfigurationError: a key has the wrong shape or a value is not a valid sender.
    """
    checked: dict[object, Sender] = {}
    for key, value in table.items():
        ok = isinstance(key, str) or (
            isinstance(key, tuple) and len(key) == 2 and all(k is None or isinstance(k, str) for k in key)
        )
        if not ok or key == (None, None):
            raise ConfigurationError(f"mapping_rule key {key!r} must be a tenant or a (tenant, kind) pair")
        checked[key] = configured_sender(value, f"mapping_rule entry {key!r}")
    return _MappingRule(checked, name)


class _FixedRule:
    """A rule that always answers the same sender."""

    def __init__(self, sender: Sender, name: str) -> None:
        self.sender = sender
        self.name = name

    def __call__(self, document: Document) -> Sender:
        return self.sender

    def __repr__(self) -> str:
        return f"fixed({str(self.sender)!r})"


def fixed(sender: Sender | Address | str, /, *, name: str = "fixed") -> SenderRule:
    """A rule that always gives ``sender``: the last step of a cascade, or the only one.

    Raises:
        ConfigurationError: ``sender`` is not a valid address.
    """
    return _FixedRule(configured_sender(sender, "fixed sender"), name)
