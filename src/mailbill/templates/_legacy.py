"""Converting merge fields written for other systems (``{Customer.Name}``, ``<<name>>``, ``&keyword``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from jinja2 import Environment
from jinja2 import TemplateSyntaxError as JinjaSyntaxError

from mailbill.errors import ConfigurationError, TemplateSyntaxError

__all__ = ["LegacySyntax", "convert_legacy"]

LegacySyntax = Literal["braces", "angle", "ampersand"]

_PATTERNS: dict[str, re.Pattern[str]] = {
    # {Customer.Contact.Name}: a dotted name in single braces (other braces stay text: CSS, JSON).
    "braces": re.compile(r"(?<!\{)\{\s*([^\W\d]\w*(?:\.[^\W\d]\w*)*)\s*\}(?!\})"),
    # <<customer>>, << Customer Name >>
    "angle": re.compile(r"<<\s*([^<>\n]+?)\s*>>"),
    # &personne, &periode; an HTML entity such as &amp; (with its semicolon) stays as it is.
    "ampersand": re.compile(r"&([^\W\d]\w*)(?!;)\b(?!;)"),
}
# A "{" followed by "{", "%" or "#" would open Jinja syntax in what is plain text for the user.
_JINJA_OPEN = re.compile(r"\{(?=[{%#]|$)")
_UNCLOSED_ANGLE = re.compile(r"<<(?![^<>\n]*>>)")


def convert_legacy(
    text: str,
    /,
    *,
    syntax: LegacySyntax,
    fields: Mapping[str, str],
    unknown: Literal["error", "keep"] = "error",
) -> str:
    """Convert a text with another system's merge fields into a template for :class:`Templates`.

    Text that is not a merge field stays text: Jinja delimiters in it are escaped, so a ``{{`` the
    user typed is printed, not run.

    Example::

        convert_legacy("Faktura {Number} till {Customer.Contact.Name}", syntax="braces",
                       fields={"Number": "invoice.number", "Customer.Contact.Name": "customer.name"})
        # -> "Faktura {{ invoice.number }} till {{ customer.name }}"

    Args:
        text: The legacy text (a subject or a body).
        syntax: ``"braces"`` for ``{Dotted.Path}``, ``"angle"`` for ``<<name>>``, ``"ampersand"``
            for ``&keyword``.
        fields: Legacy field name -> template expression (``"customer.name"``, or with filters,
            ``"invoice.due_date|date('long')"``). Names are matched exactly, then ignoring case.
        unknown: ``"error"`` (default) raises for a field not in ``fields``; ``"keep"`` leaves it
            as text.

    Returns:
        The template text.

    Raises:
        TemplateSyntaxError: An unknown field or an unclosed ``<<``; ``lineno`` and ``column``
            (1-based) say where.
        ConfigurationError: ``syntax`` is unknown, or a value of ``fields`` is not an expression.
    """
    pattern = _PATTERNS.get(syntax)
    if pattern is None:
        raise ConfigurationError(f"unknown legacy syntax {syntax!r}; use one of {sorted(_PATTERNS)}")
    expressions = _checked_fields(fields)
    folded = {name.casefold(): expression for name, expression in expressions.items()}
    if syntax == "angle":
        unclosed = _UNCLOSED_ANGLE.search(text)
        if unclosed is not None and unknown == "error":
            raise _error(text, unclosed.start(), "'<<' is not closed by '>>' on the same line")

    pieces: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        name = match.group(1)
        expression = expressions.get(name) or folded.get(name.casefold())
        if expression is None:
            if unknown == "error":
                known = ", ".join(sorted(expressions)) or "none"
                raise _error(text, match.start(), f"unknown merge field {match.group(0)!r} (known: {known})")
            continue
        pieces.append(_literal(text[position : match.start()]))
        pieces.append("{{ " + expression + " }}")
        position = match.end()
    pieces.append(_literal(text[position:]))
    return "".join(pieces)


def _literal(text: str) -> str:
    return _JINJA_OPEN.sub('{{ "{" }}', text)


def _checked_fields(fields: Mapping[str, str]) -> dict[str, str]:
    parser = Environment(autoescape=False)  # noqa: S701 - parses only, never renders
    checked: dict[str, str] = {}
    for name, expression in fields.items():
        if not isinstance(expression, str) or not expression.strip() or "}}" in expression:
            raise ConfigurationError(f"fields[{name!r}] must be a template expression, got {expression!r}")
        try:
            parser.parse("{{ " + expression + " }}")
        except JinjaSyntaxError as exc:
            raise ConfigurationError(
                f"fields[{name!r}] = {expression!r} is not an expression: {exc.message}"
            ) from None
        checked[name] = expression.strip()
    return checked


def _error(text: str, offset: int, message: str) -> TemplateSyntaxError:
    lineno = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return TemplateSyntaxError(f"line {lineno}, column {column}: {message}", lineno=lineno, column=column)
