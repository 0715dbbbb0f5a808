"""Compiled templates are cached by source, shared safely between threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mailbill import Templates, TemplateSource


class EditableLoader:
    """A loader whose text an office user edits between renders."""

    def __init__(self) -> None:
        self.subject = "Invoice {{ n }}"

    def load(self, kind: str, language: str) -> TemplateSource | None:
        return TemplateSource(self.subject, text=f"{kind} {{{{ n }}}}") if language == "en" else None


def test_an_edited_template_is_used_at_once() -> None:
    """This test ensures that the cache is keyed by source, so an edit in the host's storage shows."""
    loader = EditableLoader()
    templates = Templates(loader, cache_size=2)

    assert templates.render("invoice", "en", {"n": 1}).subject == "Invoice 1"
    loader.subject = "Faktura {{ n }}"
    assert templates.render("invoice", "en", {"n": 2}).subject == "Faktura 2"
    assert templates.render("notice", "en", {"n": 3}).text == "notice 3"
    assert templates.render("invoice", "en", {"n": 4}).text == "invoice 4"


def test_rendering_from_many_threads_gives_each_its_own_result() -> None:
    """This test ensures that concurrent renders share the set without mixing contexts or locales."""
    templates = Templates(EditableLoader(), cache_size=4)

    def render(n: int) -> tuple[str, str | None]:
        rendered = templates.render(f"kind-{n % 7}", "en", {"n": n})
        return rendered.subject, rendered.text

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(render, range(200)))

    assert results == [(f"Invoice {n}", f"kind-{n % 7} {n}") for n in range(200)]
