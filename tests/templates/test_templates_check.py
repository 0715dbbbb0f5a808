"""check() for admin screens, and preview()."""

from __future__ import annotations

from pathlib import Path

from mailbill import DirectoryLoader, MappingLoader, Templates


def _templates() -> Templates:
    return Templates(
        MappingLoader(
            {
                ("invoice", "sv"): {
                    "subject": "Faktura {{ invoice.number }}",
                    "text": "Hej {{ customer.name }}",
                },
                ("invoice", "en"): {
                    "subject": "Invoice {{ invoice.number }}",
                    "text": "Hi\n{% if x %}\n{{ y }",
                },
                ("invoice", "de"): {"subject": "Rechnung\n{{ invoice.number }}", "text": "Hallo"},
                ("notice", "sv"): {
                    "subject": "Avi {{ invoice.number }}",
                    "html": "{% for row in rows %}{{ row.amount }}{% endfor %}{{ customer.phone.mobile }}",
                },
            }
        )
    )


def test_check_reports_every_kind_of_problem() -> None:
    """This test ensures that check() finds syntax errors (with line), missing languages, fields the
    sample lacks and multi-line subjects."""
    sample = {"invoice": {"number": 1}, "customer": {"name": "Anna"}, "rows": [{"amount": 1}]}

    report = _templates().check(sample)

    assert not report.ok
    assert report.checked == (("invoice", "de"), ("invoice", "en"), ("invoice", "sv"), ("notice", "sv"))
    [syntax] = report.by_code("syntax")
    assert (syntax.kind, syntax.language, syntax.part, syntax.lineno) == ("invoice", "en", "text", 3)
    assert {(p.kind, p.language) for p in report.by_code("missing-language")} == {
        ("notice", "de"),
        ("notice", "en"),
    }
    [missing] = report.by_code("missing-field")
    assert (missing.kind, missing.part, missing.field) == ("notice", "html", "customer.phone")
    [multiline] = report.by_code("multiline-subject")
    assert (multiline.kind, multiline.language) == ("invoice", "de")
    assert report.by_code("render") == ()


def test_check_with_expected_languages_and_no_sample(tmp_path: Path) -> None:
    """This test ensures that check() without a sample still finds multi-line subjects, and that
    expected languages are reported when missing."""
    for language, subject in (("sv", "Avi\n{{ x }}\n"), ("en", "Notice {{ x }}\n")):
        directory = tmp_path / "notice" / language
        directory.mkdir(parents=True)
        (directory / "subject.txt").write_text(subject, encoding="utf-8")
        (directory / "body.txt").write_text("{{ x|money('SEK') }}", encoding="utf-8")

    report = Templates(DirectoryLoader(tmp_path)).check(languages=["sv", "en", "fi"])

    assert [(p.code, p.language) for p in report.problems] == [
        ("missing-language", "fi"),
        ("multiline-subject", "sv"),
    ]


def test_a_clean_set_checks_ok() -> None:
    """This test ensures that a set without problems gives an ok report."""
    templates = Templates(
        MappingLoader({("k", "en"): {"subject": "Hi {{ a.b }}", "text": "{{ a.b|upper }}"}})
    )

    report = templates.check({"a": {"b": "x"}})

    assert report.ok
    assert report.problems == ()


def test_preview_shows_markers_and_never_raises_for_missing_fields() -> None:
    """This test ensures that preview() renders missing fields as markers, even for a strict set."""
    rendered = _templates().preview("invoice", "sv", {"invoice": {"number": 5}})

    assert rendered.subject == "Faktura 5"
    assert rendered.text == "Hej [missing: customer.name]"


def test_check_reports_unloadable_oversized_and_failing_templates(tmp_path: Path) -> None:
    """This test ensures that a broken directory, a template over the size limit and a render failure
    with the sample are each reported, and the check goes on."""
    for kind, files in {
        "broken": {"body.txt": "no subject"},
        "huge": {"subject.txt": "s", "body.txt": "x" * 200},
        "failing": {"subject.txt": "s", "body.txt": "{{ total|money('SEK') }}"},
    }.items():
        directory = tmp_path / kind / "sv"
        directory.mkdir(parents=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")

    report = Templates(DirectoryLoader(tmp_path), max_template_chars=100).check({"total": "lots"})

    assert [(p.code, p.kind, p.part) for p in report.problems] == [
        ("load", "broken", None),
        ("render", "failing", "text"),
        ("too-large", "huge", "text"),
    ]
    assert "expected a number" in report.problems[1].message
