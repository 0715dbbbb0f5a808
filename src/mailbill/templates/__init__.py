"""Templates per document kind and language, rendered in a sandbox with locale-aware filters.

The pieces a host uses: :class:`Templates` (the set), a loader (:class:`DirectoryLoader`,
:class:`MappingLoader`, or its own :class:`TemplateLoader`), :class:`RenderedTemplate` (what a
render gives) and :func:`convert_legacy` (bring texts written for another system).
"""

from __future__ import annotations

from mailbill.templates._check import CheckReport, TemplateProblem
from mailbill.templates._languages import LanguageResolution, normalize_language
from mailbill.templates._legacy import LegacySyntax, convert_legacy
from mailbill.templates._loaders import (
    DirectoryLoader,
    ListableTemplateLoader,
    MappingLoader,
    TemplateLoader,
    TemplateSource,
)
from mailbill.templates._set import RenderedTemplate, Templates

__all__ = [
    "CheckReport",
    "DirectoryLoader",
    "LanguageResolution",
    "LegacySyntax",
    "ListableTemplateLoader",
    "MappingLoader",
    "RenderedTemplate",
    "TemplateLoader",
    "TemplateProblem",
    "TemplateSource",
    "Templates",
    "convert_legacy",
    "normalize_language",
]
