"""Compiling one template part, rendering it under the guard, and naming what went wrong."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, nodes
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.utils import missing

from mailbill.errors import (
    MailbillError,
    MissingFieldError,
    TemplateError,
    TemplateSecurityError,
    TemplateSyntaxError,
)
from mailbill.templates._environment import GuardedContext, SandboxEnvironment, UndefinedFieldError
from mailbill.templates._filters import LocaleFormatter

__all__ = ["CompiledPart", "compile_part", "render_part"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompiledPart:
    """A compiled template part and the merge fields it reads.

    Attributes:
        name: ``kind/language/part``, used in errors.
        template: The compiled Jinja template.
        names: The globals every render starts from (``range``, ``namespace``, ...), as one dict.
        source: The template text.
    """

    name: str
    template: Template
    names: Mapping[str, object]
    source: str
    # ``fields``, once worked out: only a missing field's error and ``check`` need
    # them, and finding them took a third of the time compiling a part takes.
    _fields: list[frozenset[tuple[str, ...]]] = field(default_factory=list, repr=False, compare=False)

    @property
    def fields(self) -> frozenset[tuple[str, ...]]:
        """Every dotted path read from the context, and its prefixes.

        For example ``("Customer", "Contact", "Name")``; loop variables and other
        local names are excluded.
        """
        if not self._fields:
            self._fields.append(_fields(self.template.environment.parse(self.source, name=self.name)))
        return self._fields[0]


def compile_part(env: SandboxEnvironment, source: str, *, name: str, max_chars: int) -> CompiledPart:
    """Parse and compile one part.

    Raises:
        TemplateSecurityError: The source is longer than ``max_chars``.
        TemplateSyntaxError: It does not parse; ``lineno`` says where.
    """
    if len(source) > max_chars:
        raise TemplateSecurityError(
            f"{name}: the template has {len(source)} characters; the limit is {max_chars}", template=name
        )
    try:
        tree = env.parse(source, name=name)
        code = env.compile(tree, name=name)
    except JinjaSyntaxError as exc:
        raise TemplateSyntaxError(
            f"{name}, line {exc.lineno}: {exc.message}", template=name, lineno=exc.lineno
        ) from None
    except SecurityError as exc:  # pragma: no cover - the compiler raises none today
        raise TemplateSecurityError(f"{name}: {exc}", template=name) from None
    template = env.template_class.from_code(env, code, env.make_globals(None), None)
    return CompiledPart(name, template, dict(template.globals), source)


def _fields(tree: nodes.Template) -> frozenset[tuple[str, ...]]:
    roots = find_undeclared_variables(tree)
    paths: set[tuple[str, ...]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        path = _path(node)
        if path and path[0] in roots:
            paths.add(path)
    return frozenset(paths)


def _path(node: nodes.Node) -> tuple[str, ...] | None:
    if isinstance(node, nodes.Name):
        return (node.name,) if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        inner = _path(node.node)
        return None if inner is None else (*inner, node.attr)
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        inner = _path(node.node)
        return None if inner is None else (*inner, node.arg.value)
    return None


def render_part(
    part: CompiledPart, context: Mapping[str, object], *, formatter: LocaleFormatter, max_output_chars: int
) -> str:
    """Render one part in its sandbox; every failure becomes a :class:`TemplateError` subclass.

    Raises:
        MissingFieldError: A field the template uses has no value (strict mode).
        TemplateSecurityError: The sandbox or a limit stopped the template.
        TemplateError: Anything else that went wrong while rendering (a bad value for a filter, ...).
    """
    name = part.name
    try:
        # Jinja would merge the context into its layered globals on every render,
        # a fifth of a short template's time; they are merged once into ``names``.
        ctx = part.template.new_context({**part.names, **context}, shared=True)
        assert isinstance(ctx, GuardedContext)
        ctx.mb_formatter = formatter
        chunks: list[str] = []
        append = chunks.append
        size = 0
        # Streamed, so output growing past the limit stops the loop producing it.
        # Writing a chunk is not charged as an operation: without a loop or a call
        # (which are charged) a template writes at most as many chunks as it has
        # pieces, and the template's size is limited.
        for chunk in part.template.root_render_func(ctx):
            size += len(chunk)
            if size > max_output_chars:
                raise TemplateSecurityError(
                    f"{name}: the output is longer than {max_output_chars} characters", template=name
                )
            append(chunk)
        return "".join(chunks)
    except MailbillError:
        raise
    except UndefinedFieldError as exc:
        field = _field_name(part, context, exc.name, exc.obj)
        raise MissingFieldError(
            f"{name}: the merge field {field!r} has no value", template=name, field=field
        ) from None
    except UndefinedError as exc:
        raise MissingFieldError(f"{name}: {exc}", template=name) from None
    except SecurityError as exc:
        raise TemplateSecurityError(f"{name}: {exc}", template=name) from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise TemplateSecurityError(f"{name}: stopped: {type(exc).__name__}: {exc}", template=name) from None
    except Exception as exc:  # a template must never crash the host, whatever it does
        logger.debug("rendering %s failed", name, exc_info=True)
        raise TemplateError(f"{name}: {type(exc).__name__}: {exc}", template=name) from exc


def _field_name(part: CompiledPart, context: Mapping[str, object], name: object, obj: object) -> str:
    """Name the first missing element of the path the template read, e.g. ``Customer.Contact``."""
    if obj is missing:
        return str(name)
    if not isinstance(name, str):  # an index, d[0]: name the path of the indexed value
        parents = sorted((path for path in part.fields if resolve_path(context, path) is obj), key=len)
        return f"{'.'.join(parents[0]) if parents else type(obj).__name__}[{name!r}]"
    for path in sorted(part.fields, key=len):
        for index in range(1, len(path)):
            if path[index] == name and resolve_path(context, path[:index]) is obj:
                return ".".join(path[: index + 1])
    return f"{type(obj).__name__}.{name}"


_NOT_FOUND: Any = object()


def resolve_path(context: Mapping[str, object], path: tuple[str, ...]) -> Any:
    """Follow a dotted path through mappings and public attributes; a sentinel if it breaks."""
    current: Any = context
    for key in path:
        if isinstance(current, Mapping) and key in current:
            current = current[key]
        elif not key.startswith("_") and hasattr(current, key):
            current = getattr(current, key)
        else:
            return _NOT_FOUND
    return current


def is_found(value: object) -> bool:
    """Whether :func:`resolve_path` found something."""
    return value is not _NOT_FOUND
