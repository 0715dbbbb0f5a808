"""The template set: language resolution, rendering and the compiled-template cache."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from babel import Locale
from babel.dates import get_timezone

from mailbill.errors import ConfigurationError, SubjectLineError, TemplateNotFoundError
from mailbill.templates._compiled import CompiledPart, compile_part, render_part
from mailbill.templates._dates import DateFormats
from mailbill.templates._environment import Limits, SandboxEnvironment, _StrictField, make_undefined
from mailbill.templates._filters import LocaleFormatter, locale_filters
from mailbill.templates._languages import (
    LanguageResolution,
    formatting_locale,
    language_chain,
    normalize_fallbacks,
    normalize_language,
)
from mailbill.templates._loaders import TemplateLoader, TemplateSource, validate_kind
from mailbill.templates._numbers import NumberFormats

if TYPE_CHECKING:
    from mailbill.templates._check import CheckReport

__all__ = ["RenderedTemplate", "Templates"]

logger = logging.getLogger(__name__)

Part = Literal["subject", "text", "html"]


@dataclass(frozen=True, slots=True)
class RenderedTemplate:
    """A template rendered for one recipient.

    Attributes:
        kind: The document kind.
        language_used: The language of the template that was used.
        tried: The languages tried in order, ending with ``language_used``.
        subject: The subject, one line, stripped.
        text: The plain-text body, if the template has one.
        html: The HTML body (autoescaped), if the template has one.
        locale: The babel locale numbers and dates were formatted in (``de_CH`` for a Swiss
            recipient of a ``de`` template).
    """

    kind: str
    language_used: str
    tried: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    locale: str = ""


class Templates:
    """A set of templates, by document kind and language, rendered in a sandbox.

    Example::

        templates = Templates(DirectoryLoader("templates"), default_language="de",
                              fallbacks={"gsw": ["de"], "nb": ["no", "da"]})
        rendered = templates.render("dunning-1", "de-CH", {"customer": {...}, "total": 120})

    Args:
        loader: Where the texts come from (:class:`DirectoryLoader`, :class:`MappingLoader`, or
            any object with a ``load(kind, language)`` method).
        default_language: Tried last, and alone for a recipient with no language.
        fallbacks: Extra languages to try after a language and its parents, e.g.
            ``{"nb": ["no", "da"], "gsw": ["de"]}``.
        strict: A missing merge field raises :class:`~mailbill.MissingFieldError` (default);
            with ``False`` it renders as ``missing_marker``.
        missing_marker: What a missing field renders as when not strict (and in :meth:`preview`);
            ``{field}`` is replaced by the field's name.
        max_template_chars: The longest template part accepted.
        max_output_chars: The longest rendered part, and the largest value built while rendering.
        max_operations: Loop iterations, calls and operators allowed per rendered part.
        max_range: The longest ``range()`` a template may create.
        max_render_seconds: Wall-clock time allowed per rendered part.
        timezone: The time zone the ``datetime`` and ``time`` filters show times in.
        allow_host_calls: Let templates call functions and methods of the host's objects in the
            context (``{{ customer.full_name() }}``). Off by default: a method may change data
            (``invoice.mark_paid()``); pass values or properties instead.
        cache_size: How many compiled template parts to keep.
        clock: A monotonic clock (injectable for tests).

    Raises:
        ConfigurationError: A language tag, the time zone or a limit is invalid.
    """

    def __init__(
        self,
        loader: TemplateLoader,
        /,
        *,
        default_language: str = "en",
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        strict: bool = True,
        missing_marker: str = "[missing: {field}]",
        max_template_chars: int = 100_000,
        max_output_chars: int = 1_000_000,
        max_operations: int = 200_000,
        max_range: int = 10_000,
        max_render_seconds: float = 2.0,
        timezone: str = "UTC",
        allow_host_calls: bool = False,
        cache_size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not callable(getattr(loader, "load", None)):
            raise ConfigurationError(f"{loader!r} is not a template loader (it has no load() method)")
        for option, value in (
            ("max_template_chars", max_template_chars),
            ("max_output_chars", max_output_chars),
            ("max_operations", max_operations),
            ("max_range", max_range),
            ("max_render_seconds", max_render_seconds),
        ):
            if not value > 0:
                raise ConfigurationError(f"{option} must be positive, got {value!r}")
        try:
            missing_marker.format(field="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigurationError(f"missing_marker must use only {{field}}: {exc}") from None
        try:
            self._tzinfo = get_timezone(timezone)
        except LookupError:
            raise ConfigurationError(f"unknown time zone {timezone!r}") from None
        self._loader = loader
        self._default = normalize_language(default_language)
        self._fallbacks = normalize_fallbacks(fallbacks or {})
        self._strict = strict
        self._host_calls = allow_host_calls
        self._max_template_chars = max_template_chars
        self._max_output_chars = max_output_chars
        self._limits = Limits(max_output_chars, max_operations, max_range, max_render_seconds, clock)
        self._lenient_undefined = make_undefined(missing_marker)
        self._environments: dict[tuple[bool, bool], SandboxEnvironment] = {}
        self._cache: OrderedDict[tuple[bool, bool, str, str], CompiledPart] = OrderedDict()
        self._cache_size = cache_size
        self._locales: dict[str, Locale] = {}
        self._formats: dict[Locale, tuple[NumberFormats, DateFormats]] = {}
        # Hosts render from worker threads; the caches are shared, so they are guarded.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Templates({self._loader!r}, default_language={self._default!r})"

    @property
    def loader(self) -> TemplateLoader:
        """The loader the texts come from."""
        return self._loader

    @property
    def default_language(self) -> str:
        """The normalised default language."""
        return self._default

    def chain(self, language: str | None) -> tuple[str, ...]:
        """Return the languages tried, in order, for a recipient's language tag.

        A tag that does not parse is logged and treated as no language (the default is used).
        """
        return language_chain(
            self._normalized_or_none(language), default=self._default, fallbacks=self._fallbacks
        )

    def resolve(self, kind: str, language: str | None) -> LanguageResolution:
        """Find which language of ``kind`` a recipient with ``language`` gets.

        Raises:
            TemplateNotFoundError: No language of the chain has the kind; ``tried`` lists the
                template names (``"invoice/de_CH"``, ``"invoice/de"``, ...).
            ConfigurationError: ``kind`` is not a valid kind name.
        """
        resolution, _ = self._find(kind, language)
        return resolution

    def render(self, kind: str, /, language: str | None, context: Mapping[str, object]) -> RenderedTemplate:
        """Render the subject and bodies of ``kind`` for a recipient.

        Args:
            kind: The document kind.
            language: The recipient's language tag (``"sv"``, ``"de-CH"``), or ``None``.
            context: The merge fields.

        Raises:
            TemplateNotFoundError: No language of the chain has the kind.
            TemplateSyntaxError: A part does not parse.
            MissingFieldError: A merge field has no value (strict mode).
            SubjectLineError: The subject rendered to more than one line.
            TemplateSecurityError: The sandbox or a limit stopped the template.
            TemplateError: Anything else that went wrong while rendering.
        """
        return self._render(kind, language, context, strict=self._strict)

    def preview(self, kind: str, /, language: str | None, context: Mapping[str, object]) -> RenderedTemplate:
        """Render like :meth:`render` for an admin screen: missing fields show as markers.

        Nothing is sent; every other error is raised as by :meth:`render`.
        """
        return self._render(kind, language, context, strict=False)

    def check(
        self, sample_context: Mapping[str, object] | None = None, *, languages: Sequence[str] | None = None
    ) -> CheckReport:
        """Check every template the loader lists; see :class:`CheckReport`.

        Args:
            sample_context: Merge fields of a typical document; when given, fields used but not
                provided are reported and every template is rendered with it.
            languages: The languages every kind should have (default: every language any kind has).

        Raises:
            ConfigurationError: The loader cannot list its templates (it has no ``templates()``).
        """
        from mailbill.templates._check import check_templates

        return check_templates(self, sample_context, languages=languages)

    # -- internals shared with _check -----------------------------------------------------------

    def _normalized_or_none(self, language: str | None) -> str | None:
        if language is None or (isinstance(language, str) and not language.strip()):
            return None
        try:
            return normalize_language(language)
        except ConfigurationError:
            logger.warning("language %r is not a language tag; using %s", language, self._default)
            return None

    def _find(self, kind: str, language: str | None) -> tuple[LanguageResolution, TemplateSource]:
        validate_kind(kind)
        chain = self.chain(language)
        for index, candidate in enumerate(chain):
            source = self._loader.load(kind, candidate)
            if source is not None:
                return LanguageResolution(kind, language, candidate, chain[: index + 1]), source
        tried = tuple(f"{kind}/{candidate}" for candidate in chain)
        raise TemplateNotFoundError(
            f"no template {kind!r} in any of: {', '.join(chain)}", template=kind, tried=tried
        )

    def _environment(self, *, html: bool, strict: bool) -> SandboxEnvironment:
        # Called with self._lock held.
        env = self._environments.get((html, strict))
        if env is None:
            undefined = _StrictField if strict else self._lenient_undefined
            env = SandboxEnvironment(
                limits=self._limits, autoescape=html, undefined=undefined, host_calls=self._host_calls
            )
            env.filters.update(locale_filters())
            self._environments[(html, strict)] = env
        return env

    def _compiled(self, source: str, *, name: str, html: bool, strict: bool) -> CompiledPart:
        key = (html, strict, name, source)
        with self._lock:
            part = self._cache.get(key)
            if part is not None:
                self._cache.move_to_end(key)
                return part
            env = self._environment(html=html, strict=strict)
        part = compile_part(env, source, name=name, max_chars=self._max_template_chars)
        with self._lock:
            self._cache[key] = part
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return part

    def _parts(
        self, kind: str, language: str, source: TemplateSource, *, strict: bool
    ) -> dict[Part, CompiledPart]:
        parts: dict[Part, CompiledPart] = {}
        texts: tuple[tuple[Part, str | None], ...] = (
            ("subject", source.subject),
            ("text", source.text),
            ("html", source.html),
        )
        for part, text in texts:
            if text is not None:
                name = f"{kind}/{language}/{part}"
                parts[part] = self._compiled(text, name=name, html=part == "html", strict=strict)
        return parts

    def _formatter(self, used: str, requested: str | None) -> LocaleFormatter:
        with self._lock:
            locale = formatting_locale(used, requested, self._locales)
            formats = self._formats.get(locale)
            if formats is None:
                formats = self._formats[locale] = (NumberFormats(locale), DateFormats(locale))
        return LocaleFormatter(locale, self._tzinfo, numbers=formats[0], dates=formats[1])

    def _render(
        self, kind: str, language: str | None, context: Mapping[str, object], *, strict: bool
    ) -> RenderedTemplate:
        resolution, source = self._find(kind, language)
        used = resolution.language_used
        parts = self._parts(kind, used, source, strict=strict)
        formatter = self._formatter(used, self._normalized_or_none(language))
        rendered: dict[Part, str] = {
            part: render_part(compiled, context, formatter=formatter, max_output_chars=self._max_output_chars)
            for part, compiled in parts.items()
        }
        subject = rendered["subject"].strip()
        if len(subject.splitlines()) > 1:
            name = f"{kind}/{used}/subject"
            raise SubjectLineError(
                f"{name}: the subject rendered to {len(subject.splitlines())} lines; a subject is one line",
                template=name,
            )
        return RenderedTemplate(
            kind=kind,
            language_used=used,
            tried=resolution.tried,
            subject=subject,
            text=rendered.get("text"),
            html=rendered.get("html"),
            locale=str(formatter.locale),
        )
