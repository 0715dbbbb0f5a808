"""The sandbox templates run in: Jinja's immutable sandbox plus limits on work and on sizes.

Office staff write these templates, so a template must never read the host's internals, and a
mistake (or a prank) like a loop doubling a string must stop with an error, not eat the machine.
Jinja's sandbox blocks unsafe attributes and mutation; on top of it this module counts work
(loop iterations, calls, operators, concatenations) against a budget and a deadline, and checks the
size of every string or list an operation could blow up *before* building it where it can.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import do_join, do_replace
from jinja2.runtime import Context, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from markupsafe import soft_str

__all__ = ["UndefinedFieldError", "Limits", "SandboxEnvironment", "make_undefined"]

# Beyond this many bits an integer is no amount of money; big-int arithmetic is a CPU trap.
_MAX_INT_BITS = 4096
# printf-style widths and precisions ("%999999999s") build huge strings from tiny templates.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_MAX_WIDTH = 1000
# The attributes of a plain dict, which a template's ``d.name`` must still reach first.
_DICT_ATTRIBUTES = frozenset(dir(dict))


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one render runs under.

    Attributes:
        max_output_chars: The most characters one part may render to; also bounds every string
            or list built while rendering.
        max_operations: Loop iterations, calls, operators and concatenations allowed per part.
        max_range: The longest ``range()`` a template may create.
        max_seconds: Wall-clock time per part, checked every few operations.
        clock: Monotonic clock in seconds (injectable for tests).
    """

    max_output_chars: int
    max_operations: int
    max_range: int
    max_seconds: float
    clock: Callable[[], float]


#: Operations between two readings of the clock for ``max_seconds``.
_CLOCK_EVERY = 16


class _Budget:
    """The work left for one render; charged by every guarded operation."""

    __slots__ = ("_clock", "_deadline", "_limits", "_max_operations", "_operations")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._clock = limits.clock
        self._deadline = limits.clock() + limits.max_seconds
        self._max_operations = limits.max_operations
        self._operations = 0

    def charge(self, count: int = 1) -> None:
        before = self._operations
        self._operations = now = before + count
        if now > self._max_operations:
            raise SecurityError(
                f"the template did more than {self._limits.max_operations} operations (a runaway loop?)"
            )
        # The clock is read once every _CLOCK_EVERY operations (and on the first): reading
        # it on each one cost more than the cheap operations it guards.
        if (before // _CLOCK_EVERY != now // _CLOCK_EVERY or before == 0) and self._clock() > self._deadline:
            raise SecurityError(f"the template took longer than {self._limits.max_seconds} s to render")

    def check_size(self, value: object) -> None:
        # A range is bounded by max_range and holds no items; everything else sized is checked.
        if isinstance(value, Sized) and not isinstance(value, Undefined | range):
            self.check_length(len(value))

    def check_length(self, length: int) -> None:
        if length > self._limits.max_output_chars:
            raise SecurityError(
                f"the template built a value of {length} characters or items;"
                f" the limit is {self._limits.max_output_chars}"
            )


class GuardedContext(Context):
    """A render context carrying its budget and the locale formatter of the render."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        env = self.environment
        assert isinstance(env, SandboxEnvironment)
        self.mb_budget = _Budget(env.limits)
        self.mb_formatter: object = None


def budget_of(context: Context) -> _Budget:
    """Return the budget of a render context (every context of a sandbox environment has one)."""
    budget = getattr(context, "mb_budget", None)
    if not isinstance(budget, _Budget):  # pragma: no cover - contexts are always GuardedContext
        raise SecurityError("template rendered outside a guarded context")
    return budget


class _GuardedCodeGenerator(CodeGenerator):
    """Compiles ``for`` loops and ``~`` so that each step is charged and sized."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:  # noqa: N802 - Jinja's visitor name
        guarded = nodes.Call(
            nodes.EnvironmentAttribute("mb_iterate"),
            [nodes.ContextReference(), node.iter],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        replacement = nodes.For(
            node.target, guarded, node.body, node.else_, node.test, node.recursive, lineno=node.lineno
        )
        replacement.set_environment(self.environment)
        super().visit_For(replacement, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's visitor name
        self.write("environment.mb_sized(context, ")
        super().visit_Concat(node, frame)
        self.write(")")


class UndefinedFieldError(UndefinedError):
    """Raised inside rendering for a missing merge field; the caller turns it into MissingFieldError."""

    def __init__(self, message: str, *, name: object, obj: object) -> None:
        super().__init__(message)
        self.name = name
        self.obj = obj


class _StrictField(StrictUndefined):
    """Any use of a missing field (print, iterate, test, compare, compute) raises
    :class:`UndefinedFieldError`, which knows the field's name and parent."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        raise UndefinedFieldError(self._undefined_message, name=self._undefined_name, obj=self._undefined_obj)


def _point_operators_at_override(cls: type[Undefined]) -> None:
    """Jinja binds its operators (``+``, ``<``, ``[]``, ...) to the base class's failing method when
    the class is created; point each at the override so every use names the missing field."""
    for base in (StrictUndefined, Undefined):
        for name, value in vars(base).items():
            if (
                value is Undefined._fail_with_undefined_error
                and name not in ("_fail_with_undefined_error", "__getattr__")
                and name not in vars(cls)
            ):
                setattr(cls, name, cls._fail_with_undefined_error)


_point_operators_at_override(_StrictField)


def make_undefined(marker: str) -> type[Undefined]:
    """Return an undefined class that renders a visible marker, e.g. ``[missing: Customer.Name]``.

    ``marker`` is a format string with one field, ``{field}``.
    """

    class _MarkedField(Undefined):
        __slots__ = ()

        def _path(self) -> str:
            return str(self._undefined_name) if self._undefined_name is not None else "?"

        def __getattr__(self, name: str) -> Any:
            if name[:2] == "__":
                raise AttributeError(name)
            return type(self)(name=f"{self._path()}.{name}")

        def __getitem__(self, name: Any) -> Any:
            return type(self)(name=f"{self._path()}.{name}")

        def __str__(self) -> str:
            return marker.format(field=self._path())

        def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
            # Computing with a missing field (``total + 1``) has no sensible marker: say which field.
            raise UndefinedFieldError(
                self._undefined_message, name=self._undefined_name, obj=self._undefined_obj
            )

    _point_operators_at_override(_MarkedField)
    return _MarkedField


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with a work budget, size checks and no ``str.format``."""

    code_generator_class = _GuardedCodeGenerator
    context_class = GuardedContext
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(
        self, *, limits: Limits, autoescape: bool, undefined: type[Undefined], host_calls: bool = False
    ) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=undefined,
            auto_reload=False,
            cache_size=0,  # compiled templates are cached by Templates, keyed by source
            finalize=_finalize,
            keep_trailing_newline=True,
        )
        self.limits = limits
        self.host_calls = host_calls
        self.globals.pop("lipsum", None)  # an output generator with no limit of its own
        self.globals["range"] = self._range
        self.filters.update(
            center=_guard_filter(self.filters["center"], width_arg=0),
            indent=_guard_filter(self.filters["indent"], width_arg=0),
            format=self._format_filter,
            join=self._join_filter,
            replace=self._replace_filter,
        )

    # -- hooks the generated code calls ------------------------------------------------------

    def mb_iterate(self, context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
        """Iterate for a ``for`` loop, charging one operation per item."""
        budget = budget_of(context)
        if isinstance(iterable, Undefined):
            iterable = iter(iterable)  # raise or give nothing, as the undefined class decides
        for item in iterable:
            budget.charge()
            yield item

    def mb_sized(self, context: Context, value: Any) -> Any:
        """Check the result of a ``~`` concatenation."""
        budget = budget_of(context)
        budget.charge()
        budget.check_size(value)
        return value

    # -- sandbox overrides -------------------------------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``record.field`` on a plain dict is its item; anything else goes to the sandbox's lookup.

        Jinja tries the attribute first and takes the item only after an AttributeError, which
        cost more than the rest of a merge field's lookup. A plain dict has no attributes but
        its methods, so a key that is not one of them gives the same item without the detour.
        """
        if type(obj) is dict and type(attribute) is str and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Refuse at once (not on first use) an attribute the sandbox considers unsafe."""
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} is not allowed")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Refuse ``str.format``: it reaches attributes and builds unbounded widths."""
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):
            raise SecurityError("str.format is not allowed in templates; use the filters")
        return None

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Call a method or macro from a template, charging the budget and checking sizes."""
        budget = budget_of(__context)
        budget.charge()
        if not __self.host_calls and not _is_template_callable(__obj):
            # Named by type only: the repr of a host object may hold data that must not be logged.
            raise SecurityError(
                f"templates cannot call {type(__obj).__name__} {getattr(__obj, '__name__', '')!r}"
                " of the host's objects; pass the value instead"
            )
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(budget, owner, getattr(__obj, "__name__", ""), args)
        result = super().call(__context, __obj, *args, **kwargs)
        budget.check_size(result)
        return result

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        """Run ``+ * ** %`` after checking the result cannot be huge."""
        budget = budget_of(context)
        budget.charge()
        if operator_ == "*":
            _check_repeat(budget, left, right)
            _check_repeat(budget, right, left)
            if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                raise SecurityError("integer too large")
        elif operator_ == "**" and _is_int(left) and _is_int(right) and right > 0:
            if right > _MAX_INT_BITS or right * max(abs(left).bit_length() - 1, 0) > _MAX_INT_BITS:
                raise SecurityError("integer too large")
        elif operator_ == "%" and isinstance(left, str):
            _check_percent_format(left)
        result = self.binop_table[operator_](left, right)
        budget.check_size(result)
        return result

    # -- guarded globals and filters ---------------------------------------------------------

    def _range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > self.limits.max_range:
            raise SecurityError(f"range() of {len(result)} items; the limit is {self.limits.max_range}")
        return result

    @pass_context
    def _format_filter(self, context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        text = soft_str(value)
        _check_percent_format(str(text))
        result = text % (kwargs or args)
        budget_of(context).check_size(result)
        return result

    @pass_context
    def _join_filter(self, context: Context, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        budget = budget_of(context)
        items = list(value)
        budget.check_length(len(items))
        budget.check_length(sum(len(str(item)) for item in items) + len(d) * len(items))
        return do_join(context.eval_ctx, items, d, attribute)

    @pass_context
    def _replace_filter(
        self, context: Context, value: Any, old: str, new: str, count: int | None = None
    ) -> Any:
        text = str(value)
        hits = text.count(str(old)) if old else len(text) + 1
        if count is not None and count >= 0:
            hits = min(hits, count)
        budget_of(context).check_length(len(text) + hits * max(len(str(new)) - len(str(old)), 0))
        return do_replace(context.eval_ctx, value, old, new, count)


_TEMPLATE_MODULES = ("jinja2.", "markupsafe", "mailbill.templates.")


def _is_template_callable(obj: Any) -> bool:
    """Whether a template may call ``obj`` when host calls are off.

    Methods of built-in values (``"x".upper()``, ``d.items()``, ``day.replace(...)``) and what Jinja
    and this package provide (macros, ``loop.cycle``, ``namespace``, ``range``) may be called; the
    host's own functions and methods may not, since one could change data (``invoice.mark_paid()``).
    """
    if isinstance(obj, types.BuiltinFunctionType | types.BuiltinMethodType | types.MethodWrapperType):
        return True
    if isinstance(obj, type):
        return obj.__module__ == "builtins" or obj.__module__.startswith(_TEMPLATE_MODULES)
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return isinstance(module, str) and module.startswith(_TEMPLATE_MODULES)


def _finalize(value: Any) -> Any:
    """Print ``None`` as nothing: an empty field reads better in a letter than the word "None"."""
    return "" if value is None else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(budget: _Budget, sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | list | tuple | bytes) and _is_int(times):
        budget.check_length(len(sequence) * max(times, 0))


def _check_percent_format(text: str) -> None:
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > _MAX_WIDTH):
                raise SecurityError(f"format width {number!r} is not allowed (at most {_MAX_WIDTH})")


def _check_str_method(budget: _Budget, owner: str, name: str, args: tuple[Any, ...]) -> None:
    if name in _WIDTH_METHODS:
        for arg in args:
            if _is_int(arg) and arg > _MAX_WIDTH:
                raise SecurityError(f"str.{name}() width {arg} is not allowed (at most {_MAX_WIDTH})")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        hits = owner.count(args[0]) if args[0] else len(owner) + 1
        budget.check_length(len(owner) + hits * max(len(args[1]) - len(args[0]), 0))
    elif name == "join" and args and isinstance(args[0], list | tuple):
        budget.check_length(sum(len(str(item)) for item in args[0]) + len(owner) * len(args[0]))


def _guard_filter(original: Callable[..., Any], *, width_arg: int) -> Callable[..., Any]:
    def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
        width = args[width_arg] if len(args) > width_arg else kwargs.get("width")
        if isinstance(width, int) and width > _MAX_WIDTH:
            raise SecurityError(f"width {width} is not allowed (at most {_MAX_WIDTH})")
        return original(value, *args, **kwargs)

    guarded.__name__ = getattr(original, "__name__", "filter")
    return guarded
