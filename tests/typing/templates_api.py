"""Templates as a host writes them; checked by mypy --strict, never executed."""

from __future__ import annotations

import mailbill


class TenantLoader:
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def load(self, kind: str, language: str) -> mailbill.TemplateSource | None:
        return mailbill.TemplateSource(f"{kind} {language}", text=self.tenant)


def render() -> str:
    templates = mailbill.Templates(
        TenantLoader("t1"), default_language="de", fallbacks={"gsw": ["de"]}, timezone="Europe/Zurich"
    )
    rendered: mailbill.RenderedTemplate = templates.render("dunning-1", "de-CH", {"total": 1})
    resolution: mailbill.LanguageResolution = templates.resolve("dunning-1", None)
    text = mailbill.convert_legacy("{Number}", syntax="braces", fields={"Number": "number"})
    report: mailbill.CheckReport = mailbill.Templates(mailbill.MappingLoader({})).check({"a": 1})
    return rendered.subject + resolution.language_used + text + str(report.ok)
