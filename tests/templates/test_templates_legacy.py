"""Converting legacy merge fields: {Dotted.Path}, <<name>>, &keyword."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbill import MappingLoader, Templates, convert_legacy
from mailbill.errors import ConfigurationError, TemplateSyntaxError


def _render(template: str, context: dict[str, object], *, html: bool = False) -> str:
    part = {"html": template} if html else {"text": template}
    rendered = Templates(MappingLoader({("k", "en"): {"subject": "s", **part}})).render("k", "en", context)
    result = rendered.html if html else rendered.text
    assert result is not None
    return result


def test_braces_with_dotted_paths() -> None:
    """This test ensures that {Customer.Contact.Name} maps to the host's expression."""
    converted = convert_legacy(
        "Hej {Customer.Contact.Name}, faktura {Number}.",
        syntax="braces",
        fields={"Customer.Contact.Name": "customer.name", "Number": "invoice.number"},
    )

    assert converted == "Hej {{ customer.name }}, faktura {{ invoice.number }}."
    assert (
        _render(converted, {"customer": {"name": "Anna"}, "invoice": {"number": 7}}) == "Hej Anna, faktura 7."
    )


def test_angle_brackets_match_case_insensitively() -> None:
    """This test ensures that <<customer>> and << Customer >> both convert."""
    converted = convert_legacy(
        "Dear <<customer>> / << Customer >>", syntax="angle", fields={"Customer": "customer.name"}
    )

    assert converted == "Dear {{ customer.name }} / {{ customer.name }}"


def test_ampersand_keywords_leave_html_entities_alone() -> None:
    """This test ensures that &personne converts while &amp; and &nbsp; stay HTML."""
    converted = convert_legacy(
        "<p>&personne &amp; famille&nbsp;: &periode</p>",
        syntax="ampersand",
        fields={"personne": "name", "periode": "period|period"},
    )

    assert converted == "<p>{{ name }} &amp; famille&nbsp;: {{ period|period }}</p>"


def test_unknown_field_names_line_and_column() -> None:
    """This test ensures that an unknown field raises TemplateSyntaxError with line and column."""
    with pytest.raises(TemplateSyntaxError) as caught:
        convert_legacy("Hej {Name},\n\nFaktura {Nummer} bifogas.", syntax="braces", fields={"Name": "name"})

    assert (caught.value.lineno, caught.value.column) == (3, 9)
    assert "line 3, column 9" in str(caught.value)
    assert "{Nummer}" in str(caught.value)


def test_unclosed_angle_field_names_line_and_column() -> None:
    """This test ensures that a << without >> on its line is reported where it starts."""
    with pytest.raises(TemplateSyntaxError) as caught:
        convert_legacy("Dear\n  <<customer\n>>", syntax="angle", fields={"customer": "c"})

    assert (caught.value.lineno, caught.value.column) == (2, 3)


def test_unknown_fields_can_be_kept() -> None:
    """This test ensures that unknown='keep' leaves unknown fields as text."""
    converted = convert_legacy("{A} {B}", syntax="braces", fields={"A": "a"}, unknown="keep")

    assert _render(converted, {"a": 1}) == "1 {B}"


def test_jinja_syntax_in_legacy_text_stays_text() -> None:
    """This test ensures that {{ or {% typed in a legacy text is printed, not executed."""
    converted = convert_legacy(
        "{{ 7*7 }} {% if x %} {# c #} {Name}{", syntax="braces", fields={"Name": "name"}
    )

    assert _render(converted, {"name": "N"}) == "{{ 7*7 }} {% if x %} {# c #} N{"
    assert _render(converted, {"name": "N"}, html=True) == "{{ 7*7 }} {% if x %} {# c #} N{"


@pytest.mark.parametrize(
    ("syntax", "fields"),
    [("curly", {"a": "a"}), ("braces", {"a": "a b"}), ("braces", {"a": ""}), ("braces", {"a": "x }} {{ y"})],
)
def test_bad_arguments_are_configuration_errors(syntax: str, fields: dict[str, str]) -> None:
    """This test ensures that an unknown syntax or a field mapping that is no expression is refused."""
    with pytest.raises(ConfigurationError):
        convert_legacy("{a}", syntax=syntax, fields=fields)  # type: ignore[arg-type]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r")))
def test_text_without_known_fields_renders_to_itself(text: str) -> None:
    """This test ensures that converting any text with no known fields and rendering it gives it back."""
    for syntax in ("braces", "angle", "ampersand"):
        converted = convert_legacy(text, syntax=syntax, fields={}, unknown="keep")  # type: ignore[arg-type]
        assert _render(converted, {}) == text
