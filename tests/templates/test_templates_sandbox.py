"""The sandbox: no internals, no str.format, and runaway templates stop with a clear error."""

from __future__ import annotations

import time

import pytest

from mailbill import MappingLoader, Templates
from mailbill.errors import MissingFieldError, TemplateError, TemplateSecurityError


def _render(body: str, context: dict[str, object] | None = None, **options: object) -> str | None:
    templates = Templates(MappingLoader({("k", "en"): {"subject": "s", "text": body}}), **options)  # type: ignore[arg-type]
    return templates.render("k", "en", context or {}).text


class Customer:
    """A host object passed in the context."""

    def __init__(self) -> None:
        self.name = "Anna"
        self._secret = "hunter2"

    def greeting(self) -> str:
        return f"Hello {self.name}"


UNSAFE = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ customer.__class__ }}",
    "{{ customer.greeting.__globals__ }}",
    "{{ customer.__dict__ }}",
    "{{ customer._secret }}",
    "{{ cls.mro() }}",
    "{{ customer.greeting.__func__.__code__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ 'a'.format }}",
    "{{ '{0.__class__}'.format(customer) }}",
    "{{ '{0.name}'.format_map({'0': customer}) }}",
    "{{ items.append(1) }}",
    "{{ mapping.update({'a': 1}) }}",
]


@pytest.mark.parametrize("body", UNSAFE)
def test_access_to_internals_is_refused(body: str) -> None:
    """This test ensures that attribute tricks and str.format are refused with TemplateSecurityError."""
    context = {"customer": Customer(), "cls": Customer, "items": [1], "mapping": {}}

    with pytest.raises(TemplateSecurityError) as caught:
        _render(body, context)

    assert caught.value.template == "k/en/text"


def test_public_attributes_of_host_objects_work() -> None:
    """This test ensures that the sandbox still allows reading public attributes of host objects."""
    assert _render("{{ customer.name }}", {"customer": Customer()}) == "Anna"


class Invoice:
    """A host object with a method that changes data."""

    def __init__(self) -> None:
        self.paid = False

    def mark_paid(self) -> str:
        self.paid = True
        return "paid"


def test_host_methods_cannot_be_called_unless_allowed() -> None:
    """This test ensures that a template cannot call host methods (which may change data) by default."""
    invoice = Invoice()

    with pytest.raises(TemplateSecurityError, match="cannot call method 'mark_paid'"):
        _render("{{ invoice.mark_paid() }}", {"invoice": invoice})
    with pytest.raises(TemplateSecurityError):
        _render("{{ f() }}", {"f": invoice.mark_paid})

    assert invoice.paid is False
    assert _render("{{ c.greeting() }}", {"c": Customer()}, allow_host_calls=True) == "Hello Anna"


def test_builtin_methods_macros_and_jinja_helpers_can_be_called() -> None:
    """This test ensures that what templates legitimately call still works with host calls off."""
    body = (
        "{% macro hi(n) %}Hi {{ n }}{% endmacro %}{{ hi('A') }}|{{ 'x'.upper() }}|"
        "{% for k, v in d.items() %}{{ k }}={{ v }}{{ loop.cycle(',', ';') }}{% endfor %}|"
        "{% set ns = namespace(n=1) %}{{ ns.n }}|{{ dict(a=1)['a'] }}|{{ day.replace(year=2025).year }}"
    )
    import datetime as dt

    assert _render(body, {"d": {"a": 1, "b": 2}, "day": dt.date(2024, 1, 1)}) == "Hi A|X|a=1,b=2;|1|1|2025"


RUNAWAY = [
    "{% for i in range(10**9) %}{% endfor %}",
    "{% for i in range(100000) %}x{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% set ns = namespace(s='a') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='a') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ ['a'] * 10**9 }}",
    "{{ 10 ** 100000 }}",
    "{{ 'a'|center(10**9) }}",
    "{{ 'a'.center(10**9) }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ '%999999999s'|format(1) }}",
    "{{ '%999999999s' % 1 }}",
    "{{ ('a' * 900000)|replace('a', 'aaaa') }}",
    "{{ ('a' * 900000).replace('a', 'aaaa') }}",
    "{{ range(10000)|join('a' * 1000) }}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% for i in range(10000) %}{{ 'a' * 900 }}{% endfor %}{% for i in range(9000) %}{{ 'a' }}{% endfor %}",
]


@pytest.mark.parametrize("body", RUNAWAY)
def test_runaway_templates_stop_with_a_security_error(body: str) -> None:
    """This test ensures that huge loops, exponential growth and huge values stop quickly."""
    started = time.monotonic()

    with pytest.raises(TemplateSecurityError):
        _render(body, max_output_chars=1_000_000)

    assert time.monotonic() - started < 10


def test_the_briefs_doubling_loop_is_harmless() -> None:
    """This test ensures that `set` inside a loop (scoped per iteration) cannot double a string."""
    body = "{% set s = 'a' %}{% for i in range(100) %}{% set s = s ~ s %}{% endfor %}{{ s }}"
    try:
        text = _render(body)
    except TemplateSecurityError:
        return
    assert text == "a"


def test_render_time_is_bounded_with_an_injected_clock() -> None:
    """This test ensures that the deadline is checked during rendering, using the given clock."""
    now = [0.0]

    def clock() -> float:
        now[0] += 0.5
        return now[0]

    with pytest.raises(TemplateSecurityError, match="longer than 2"):
        _render("{% for i in range(100) %}{{ i }}{% endfor %}", clock=clock, max_render_seconds=2.0)


def test_template_size_is_limited() -> None:
    """This test ensures that a template larger than max_template_chars is refused before parsing."""
    with pytest.raises(TemplateSecurityError, match="limit is 100"):
        _render("x" * 101, max_template_chars=100)


def test_output_size_is_limited() -> None:
    """This test ensures that output beyond max_output_chars stops the render."""
    with pytest.raises(TemplateSecurityError, match="longer than 50"):
        _render("{% for i in range(100) %}{{ i }}{% endfor %}", max_output_chars=50)


@pytest.mark.parametrize(
    "body",
    [
        "{{ 1 / 0 }}",
        "{{ total|money('XYZ') }}",
        "{{ 'x'|date }}",
        "{{ total|money }}",
        "{{ none_value.attr() }}",
    ],
)
def test_errors_inside_templates_never_escape_as_foreign_exceptions(body: str) -> None:
    """This test ensures that any failure while rendering becomes a TemplateError naming the template."""
    with pytest.raises(TemplateError) as caught:
        _render(body, {"total": 5, "none_value": None})

    assert caught.value.template == "k/en/text"


def test_missing_field_names_the_field_and_template() -> None:
    """This test ensures that a missing nested field names its dotted path in strict mode."""
    with pytest.raises(MissingFieldError) as caught:
        _render("Hej {{ Customer.Contact.Name }}", {"Customer": {"Contact": {}}})

    assert caught.value.field == "Customer.Contact.Name"
    assert caught.value.template == "k/en/text"
    assert "Customer.Contact.Name" in str(caught.value)


def test_fields_are_worked_out_only_when_an_error_needs_them() -> None:
    """This test ensures that compiling skips the field analysis a successful render does not use."""
    templates = Templates(MappingLoader({("k", "en"): {"subject": "s", "text": "{{ a.b }} {{ c.d }}"}}))
    templates.render("k", "en", {"a": {"b": 1}, "c": {"d": 2}})
    (part,) = [p for p in templates._cache.values() if p.name == "k/en/text"]
    assert part._fields == []
    with pytest.raises(MissingFieldError) as caught:
        templates.render("k", "en", {"a": {"b": 1}, "c": {}})
    assert caught.value.field == "c.d"
    assert part.fields == frozenset({("a",), ("a", "b"), ("c",), ("c", "d")})
    assert part._fields == [part.fields]


def test_lenient_mode_leaves_a_visible_marker() -> None:
    """This test ensures that strict=False renders missing fields as a marker instead of raising."""
    text = _render("Hej {{ Customer.Contact.Name }} {{ total|money('SEK') }}", strict=False)

    assert text == "Hej [missing: Customer.Contact.Name] [missing: total]"


def test_none_renders_as_empty() -> None:
    """This test ensures that a None field prints as nothing, not as the word None."""
    assert _render("[{{ value }}]", {"value": None}) == "[]"


@pytest.mark.parametrize(
    ("body", "context", "field"),
    [
        ("{{ b + 1 }}", {}, "b"),
        ("{{ c < 1 }}", {}, "c"),
        ("{% for x in e %}{% endfor %}", {}, "e"),
        ("{{ d[0] }}", {"d": []}, "d[0]"),
        ("{{ customer.name|upper }}", {"customer": {}}, "customer.name"),
        ("{{ total|money('SEK') }}", {}, "total"),
    ],
)
def test_every_use_of_a_missing_field_names_it(body: str, context: dict[str, object], field: str) -> None:
    """This test ensures that printing, computing, comparing, iterating, indexing or filtering a missing
    field all raise MissingFieldError with its name."""
    with pytest.raises(MissingFieldError) as caught:
        _render(body, context)

    assert caught.value.field == field


def test_missing_field_in_html_names_it() -> None:
    """This test ensures that a missing field in the autoescaped HTML part is reported as such."""
    templates = Templates(MappingLoader({("k", "en"): {"subject": "s", "html": "<p>{{ a }}</p>"}}))

    with pytest.raises(MissingFieldError) as caught:
        templates.render("k", "en", {})

    assert (caught.value.field, caught.value.template) == ("a", "k/en/html")


def test_defined_tests_and_defaults_work_in_strict_mode() -> None:
    """This test ensures that templates can guard optional fields in strict mode."""
    body = "{{ a is defined }} {{ a|default('none') }} {% if b is defined and b %}b{% endif %}"

    assert _render(body) == "False none "


def test_dict_fields_are_items_and_dict_methods_stay_methods() -> None:
    """This test ensures that the quick item lookup for plain dicts keeps Jinja's precedence.

    ``d.name`` is the item; ``d.items`` is still the method (attributes come first),
    a dict subclass's own attribute still wins, and a missing key is a missing field.
    """

    class Record(dict[str, object]):
        total = "attribute"

    data = {"name": "Anna", "items": "not the method", "total": "item"}
    assert _render("{{ d.name }} {{ d.items()|list|length }} {{ d['items'] }}", {"d": data}) == (
        "Anna 3 not the method"
    )
    assert _render("{{ r.total }} {{ r['total'] }}", {"r": Record(total="item")}) == "attribute item"
    with pytest.raises(MissingFieldError, match=r"d\.missing"):
        _render("{{ d.missing }}", {"d": data})
