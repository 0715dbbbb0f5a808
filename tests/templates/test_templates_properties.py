"""Properties over arbitrary texts and values."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st
from markupsafe import escape

from mailbill import MappingLoader, Templates

PLAIN = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="{\r"))
VALUES = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans())


@given(PLAIN)
def test_text_without_template_syntax_renders_to_itself(text: str) -> None:
    """This test ensures that a body with no template syntax comes out unchanged, text and HTML."""
    templates = Templates(MappingLoader({("k", "en"): {"subject": "s", "text": text, "html": text}}))

    rendered = templates.render("k", "en", {})

    assert rendered.text == text
    assert rendered.html == text


@given(VALUES)
def test_context_values_never_escape_autoescaping_in_html(value: object) -> None:
    """This test ensures that any value is escaped in HTML and verbatim in text."""
    templates = Templates(
        MappingLoader({("k", "en"): {"subject": "s", "text": "<p>{{ v }}</p>", "html": "<p>{{ v }}</p>"}})
    )

    rendered = templates.render("k", "en", {"v": value})

    assert rendered.html == f"<p>{escape(value)}</p>"
    assert rendered.text == f"<p>{value}</p>"
    assert "<" not in (rendered.html or "")[3:-4]


@given(st.text(min_size=1).filter(lambda s: "\n" not in s and "\r" not in s and s.strip() == s))
def test_a_one_line_subject_value_is_kept_exactly(value: str) -> None:
    """This test ensures that subject values without line breaks come out exactly (no escaping)."""
    assume(len(value.splitlines()) <= 1)
    templates = Templates(MappingLoader({("k", "en"): {"subject": "{{ v }}", "text": "t"}}))

    assert templates.render("k", "en", {"v": value}).subject == value
