"""Language tags and the fallback chain."""

from __future__ import annotations

import pytest
from babel import Locale
from babel.localedata import locale_identifiers
from hypothesis import given
from hypothesis import strategies as st

from mailbill import MappingLoader, Templates, normalize_language
from mailbill.errors import ConfigurationError


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("sv", "sv"),
        ("sv_SE", "sv_SE"),
        ("sv-se", "sv_SE"),
        ("SV-SE", "sv_SE"),
        (" de-CH ", "de_CH"),
        ("nl-BE", "nl_BE"),
        ("fr", "fr"),
        ("zh-hant-tw", "zh_Hant_TW"),
        ("gsw", "gsw"),
    ],
)
def test_tags_are_normalised_case_and_separator_tolerant(tag: str, expected: str) -> None:
    """This test ensures that host-stored tags normalise to babel's canonical form."""
    assert normalize_language(tag) == expected


@pytest.mark.parametrize("tag", ["", "s", "../sv", "sv/SE", "sv.UTF-8", "sv@euro", "123", "sv_SE_x_y_z_w"])
def test_bad_tags_are_refused(tag: str) -> None:
    """This test ensures that text that is not a tag (or could be a path) is refused."""
    with pytest.raises(ConfigurationError):
        normalize_language(tag)


IDENTIFIERS = sorted(i for i in locale_identifiers() if "@" not in i)


@given(st.sampled_from(IDENTIFIERS), st.sampled_from(["_", "-"]), st.booleans())
def test_normalisation_agrees_with_babel(identifier: str, separator: str, upper: bool) -> None:
    """This test ensures that any babel locale, in any case and separator, normalises to babel's name."""
    written = identifier.replace("_", separator)
    written = written.upper() if upper else written.lower()

    normalised = normalize_language(written)

    assert normalised == str(Locale.parse(identifier))
    assert normalize_language(normalised) == normalised


def _set(*languages: str, **options: object) -> Templates:
    loader = MappingLoader(
        {("k", language): {"subject": language, "text": language} for language in languages}
    )
    return Templates(loader, **options)  # type: ignore[arg-type]


def test_chain_is_exact_parent_fallbacks_default() -> None:
    """This test ensures the order: exact, parents, extra fallbacks (with their parents), default."""
    templates = _set(
        "en", default_language="en", fallbacks={"gsw": ["de"], "nb": ["no", "da"], "de": ["en_GB"]}
    )

    assert templates.chain("gsw-CH") == ("gsw_CH", "gsw", "de", "en_GB", "en")
    assert templates.chain("nb_NO") == ("nb_NO", "nb", "no", "da", "en")
    assert templates.chain("zh-Hant-TW") == ("zh_Hant_TW", "zh_Hant", "zh", "en")
    assert templates.chain(None) == ("en",)
    assert templates.chain("") == ("en",)


def test_an_unparsable_language_falls_back_to_the_default(caplog: pytest.LogCaptureFixture) -> None:
    """This test ensures that a garbage language on a customer card uses the default and is logged."""
    templates = _set("de", default_language="de")

    resolution = templates.resolve("k", "??")

    assert resolution.language_used == "de"
    assert "not a language tag" in caplog.text


def test_resolution_records_what_was_tried() -> None:
    """This test ensures that resolve() reports the language used and every language tried."""
    templates = _set("no", "en", fallbacks={"nb": ["no", "da"]})

    resolution = templates.resolve("k", "nb-NO")

    assert resolution.language_used == "no"
    assert resolution.tried == ("nb_NO", "nb", "no")
    assert resolution.requested == "nb-NO"
    assert templates.render("k", "nb-NO", {}).subject == "no"


@pytest.mark.parametrize(
    "options",
    [
        {"default_language": "not a tag!"},
        {"fallbacks": {"nb": "no"}},
        {"fallbacks": {"nb": ["../x"]}},
        {"timezone": "Mars/Olympus"},
        {"max_output_chars": 0},
        {"missing_marker": "{oops}"},
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, object]) -> None:
    """This test ensures that a bad setup raises ConfigurationError at once."""
    with pytest.raises(ConfigurationError):
        _set("en", **options)


def test_a_loader_without_load_is_refused() -> None:
    """This test ensures that passing something that is not a loader fails early."""
    with pytest.raises(ConfigurationError, match="not a template loader"):
        Templates({"k": "v"})  # type: ignore[arg-type]
