"""Checking a whole template set for an admin screen, without sending anything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mailbill.errors import (
    ConfigurationError,
    MailbillError,
    MissingFieldError,
    SubjectLineError,
    TemplateError,
    TemplateSecurityError,
    TemplateSyntaxError,
)
from mailbill.templates._compiled import CompiledPart, is_found, resolve_path
from mailbill.templates._languages import normalize_language
from mailbill.templates._loaders import ListableTemplateLoader

if TYPE_CHECKING:
    from mailbill.templates._set import Templates

__all__ = ["CheckReport", "ProblemCode", "TemplateProblem", "check_templates"]

ProblemCode = Literal[
    "load", "syntax", "too-large", "missing-language", "missing-field", "multiline-subject", "render"
]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One problem :meth:`Templates.check` found.

    Attributes:
        code: ``"syntax"``, ``"too-large"``, ``"load"``, ``"missing-language"``,
            ``"missing-field"``, ``"multiline-subject"`` or ``"render"``.
        kind: The document kind.
        language: The language concerned (for ``"missing-language"``, the one that is missing).
        part: ``"subject"``, ``"text"`` or ``"html"``, when the problem is in one part.
        message: A sentence for the admin screen.
        lineno: The 1-based line of a syntax error.
        field: The dotted name of a missing field.
    """

    code: ProblemCode
    kind: str
    language: str
    part: str | None
    message: str
    lineno: int | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :meth:`Templates.check` found.

    Attributes:
        checked: The ``(kind, language)`` pairs checked.
        problems: Every problem found, in a stable order.
    """

    checked: tuple[tuple[str, str], ...]
    problems: tuple[TemplateProblem, ...]

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def by_code(self, code: ProblemCode) -> tuple[TemplateProblem, ...]:
        """Return the problems with this code."""
        return tuple(problem for problem in self.problems if problem.code == code)


def check_templates(
    templates: Templates, sample_context: Mapping[str, object] | None, *, languages: Sequence[str] | None
) -> CheckReport:
    """Check every template of ``templates``; see :meth:`Templates.check`."""
    loader = templates.loader
    if not isinstance(loader, ListableTemplateLoader):
        raise ConfigurationError(f"{loader!r} cannot list its templates (it has no templates() method)")
    pairs = sorted(set(loader.templates()))
    problems: list[TemplateProblem] = []

    by_kind: dict[str, set[str]] = {}
    for kind, language in pairs:
        by_kind.setdefault(kind, set()).add(language)
    expected = (
        {normalize_language(tag) for tag in languages}
        if languages is not None
        else {language for _, language in pairs}
    )
    for kind, present in sorted(by_kind.items()):
        for language in sorted(expected - present):
            problems.append(
                TemplateProblem(
                    "missing-language", kind, language, None, f"{kind} has no {language} template"
                )
            )

    for kind, language in pairs:
        problems.extend(_check_one(templates, kind, language, sample_context))
    return CheckReport(tuple(pairs), tuple(problems))


def _check_one(
    templates: Templates, kind: str, language: str, sample: Mapping[str, object] | None
) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    try:
        source = templates.loader.load(kind, language)
    except MailbillError as exc:
        return [TemplateProblem("load", kind, language, None, str(exc))]
    if source is None:
        return [TemplateProblem("load", kind, language, None, f"listed but not loadable: {kind}/{language}")]

    parts: dict[str, CompiledPart] = {}
    for part, text in (("subject", source.subject), ("text", source.text), ("html", source.html)):
        if text is None:
            continue
        try:
            parts[part] = templates._compiled(
                text, name=f"{kind}/{language}/{part}", html=part == "html", strict=True
            )
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem("syntax", kind, language, part, str(exc), lineno=exc.lineno))
        except TemplateSecurityError as exc:
            problems.append(TemplateProblem("too-large", kind, language, part, str(exc)))
    if len(parts) < sum(text is not None for text in (source.subject, source.text, source.html)):
        return problems  # rendering a set with a broken part says nothing more

    reported: set[str] = set()
    if sample is not None:
        for part, compiled in parts.items():
            for field in _missing_fields(compiled, sample):
                if field not in reported:
                    reported.add(field)
                    problems.append(
                        TemplateProblem(
                            "missing-field",
                            kind,
                            language,
                            part,
                            f"{compiled.name} uses {field!r}, which the sample does not provide",
                            field=field,
                        )
                    )
    problems.extend(_render_problems(templates, kind, language, sample, reported))
    return problems


def _missing_fields(compiled: CompiledPart, sample: Mapping[str, object]) -> list[str]:
    missing: set[str] = set()
    for path in compiled.fields:
        for end in range(1, len(path) + 1):
            parent = resolve_path(sample, path[: end - 1])
            if not is_found(parent) or isinstance(parent, list | tuple | set):
                break  # an item of a list: the sample cannot say which fields it has
            if not is_found(resolve_path(sample, path[:end])):
                missing.add(".".join(path[:end]))
                break
    # "Customer" missing makes "Customer.Name" missing too; report the shortest.
    return sorted(field for field in missing if not any(field.startswith(other + ".") for other in missing))


def _render_problems(
    templates: Templates, kind: str, language: str, sample: Mapping[str, object] | None, reported: set[str]
) -> list[TemplateProblem]:
    # Without a sample, a lenient render still shows a subject that spans lines.
    try:
        if sample is None:
            templates.preview(kind, language, {})
        else:
            templates._render(kind, language, sample, strict=True)
    except SubjectLineError as exc:
        return [TemplateProblem("multiline-subject", kind, language, "subject", str(exc))]
    except MissingFieldError as exc:
        if exc.field in reported:
            return []
        return [TemplateProblem("missing-field", kind, language, _part_of(exc), str(exc), field=exc.field)]
    except TemplateError as exc:
        if sample is None:
            return []  # without data, a filter may fail on a marker; that is not a template problem
        return [TemplateProblem("render", kind, language, _part_of(exc), str(exc))]
    return []


def _part_of(exc: TemplateError) -> str | None:
    part = exc.template.rsplit("/", 1)[-1]
    return part if part in ("subject", "text", "html") else None
