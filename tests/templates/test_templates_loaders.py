"""Loaders: directory layout, mapping shape, the protocol, and path traversal attempts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailbill import (
    DirectoryLoader,
    ListableTemplateLoader,
    MappingLoader,
    TemplateLoader,
    Templates,
    TemplateSource,
)
from mailbill.errors import ConfigurationError, TemplateError, TemplateSecurityError


def _write(root: Path, kind: str, language: str, **files: str) -> None:
    directory = root / kind / language
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name.replace("_", ".")).write_text(text, encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    root.mkdir()
    _write(
        root, "invoice", "sv-se", subject_txt="Faktura {{ n }}\n", body_txt="Hej!\n", body_html="<p>Hej</p>\n"
    )
    _write(root, "invoice", "EN", subject_txt="Invoice {{ n }}\n", body_txt="Hello!\n")
    return root


def test_directory_loader_reads_the_layout_and_tolerates_tag_spelling(root: Path) -> None:
    """This test ensures that kind/lang/subject.txt, body.txt, body.html load, whatever the tag case."""
    loader = DirectoryLoader(root)

    source = loader.load("invoice", "sv_SE")

    assert source == TemplateSource(
        "Faktura {{ n }}", text="Hej!\n", html="<p>Hej</p>\n", origin="invoice/sv-se"
    )
    assert loader.load("invoice", "de") is None
    assert loader.load("dunning", "sv") is None
    assert sorted(loader.templates()) == [("invoice", "en"), ("invoice", "sv_SE")]
    assert isinstance(loader, ListableTemplateLoader)
    assert Templates(loader).render("invoice", "sv-SE", {"n": 5}).subject == "Faktura 5"


@pytest.mark.parametrize(
    "kind", ["../invoice", "..", "invoice/../../etc", "/etc", "in voice", "", "a" * 65, "inv.oice"]
)
def test_directory_loader_refuses_crafted_kinds(root: Path, kind: str) -> None:
    """This test ensures that a kind can never name a path outside the root."""
    with pytest.raises(ConfigurationError):
        DirectoryLoader(root).load(kind, "en")


@pytest.mark.parametrize("language", ["../sv", "../../etc/passwd", "sv/../en", "/etc", "sv\x00"])
def test_directory_loader_refuses_crafted_languages(root: Path, language: str) -> None:
    """This test ensures that a language can never name a path outside the root."""
    with pytest.raises(ConfigurationError):
        DirectoryLoader(root).load("invoice", language)


def test_rendering_with_a_crafted_language_uses_the_default(root: Path) -> None:
    """This test ensures that a traversal attempt in a recipient's language only gets the default."""
    rendered = Templates(DirectoryLoader(root)).render("invoice", "../../etc", {"n": 1})

    assert rendered.language_used == "en"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_directory_loader_refuses_symlinks_leaving_the_root(root: Path, tmp_path: Path) -> None:
    """This test ensures that a symlinked language directory pointing outside the root is refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "subject.txt").write_text("secret", encoding="utf-8")
    (outside / "body.txt").write_text("secret", encoding="utf-8")
    (root / "invoice" / "de").symlink_to(outside, target_is_directory=True)

    with pytest.raises(TemplateSecurityError):
        DirectoryLoader(root).load("invoice", "de")


def test_directory_loader_refuses_large_files(root: Path) -> None:
    """This test ensures that a file above max_file_bytes is refused, not read."""
    _write(root, "notice", "sv", subject_txt="s", body_txt="x" * 2000)

    with pytest.raises(TemplateSecurityError, match="larger than 1000"):
        DirectoryLoader(root, max_file_bytes=1000).load("notice", "sv")


def test_directory_loader_reports_incomplete_templates(root: Path) -> None:
    """This test ensures that a language directory without subject or body is an error naming it."""
    _write(root, "notice", "sv", body_txt="x")
    _write(root, "notice", "de", subject_txt="x")
    loader = DirectoryLoader(root)

    with pytest.raises(TemplateError, match=r"subject\.txt is missing"):
        loader.load("notice", "sv")
    with pytest.raises(TemplateError, match=r"needs body\.txt or body\.html"):
        loader.load("notice", "de")


def test_directory_loader_refuses_a_missing_root(tmp_path: Path) -> None:
    """This test ensures that a missing template directory fails at construction."""
    with pytest.raises(ConfigurationError):
        DirectoryLoader(tmp_path / "nope")


def test_mapping_loader_shapes_and_errors() -> None:
    """This test ensures that the mapping loader normalises keys and validates its values."""
    loader = MappingLoader(
        {
            ("invoice", "sv-SE"): {"subject": "s", "text": "t"},
            ("invoice", "en"): TemplateSource("S", html="<p>H</p>"),
        }
    )
    assert loader.load("invoice", "sv_SE") == TemplateSource("s", text="t", origin="invoice/sv_SE")
    assert list(loader.templates()) == [("invoice", "en"), ("invoice", "sv_SE")]

    with pytest.raises(ConfigurationError, match="given twice"):
        MappingLoader(
            {("k", "sv-se"): {"subject": "s", "text": "t"}, ("k", "sv_SE"): {"subject": "s", "text": "t"}}
        )
    with pytest.raises(ConfigurationError, match="unknown template parts"):
        MappingLoader({("k", "sv"): {"subject": "s", "body": "t"}})
    with pytest.raises(ConfigurationError, match="needs a text or an HTML body"):
        MappingLoader({("k", "sv"): {"subject": "s"}})
    with pytest.raises(ConfigurationError, match="needs a 'subject'"):
        MappingLoader({("k", "sv"): {"text": "t"}})


class TenantLoader:
    """A host's own loader, as it would read templates per tenant from its database."""

    def __init__(self, rows: dict[tuple[str, str, str], str], tenant: str) -> None:
        self.rows = rows
        self.tenant = tenant
        self.calls: list[tuple[str, str]] = []

    def load(self, kind: str, language: str) -> TemplateSource | None:
        self.calls.append((kind, language))
        body = self.rows.get((self.tenant, kind, language))
        return None if body is None else TemplateSource(f"{kind} for {self.tenant}", text=body)


def test_a_host_loader_satisfies_the_protocol_and_is_asked_in_chain_order() -> None:
    """This test ensures that any object with load(kind, language) works, asked exact tag first."""
    loader = TenantLoader({("t1", "notice", "sv"): "Hyresavi", ("t2", "notice", "sv"): "Annan"}, "t1")
    assert isinstance(loader, TemplateLoader)
    assert not isinstance(loader, ListableTemplateLoader)

    rendered = Templates(loader, default_language="sv").render("notice", "sv-FI", {})

    assert rendered.text == "Hyresavi"
    assert loader.calls == [("notice", "sv_FI"), ("notice", "sv")]
    with pytest.raises(ConfigurationError, match="cannot list"):
        Templates(loader).check()
