"""Language tags: normalising what hosts store, and the fallback chain tried for a recipient."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from babel.core import Locale, UnknownLocaleError, parse_locale

from mailbill.errors import ConfigurationError

__all__ = ["LanguageResolution", "language_chain", "normalize_language", "normalize_fallbacks"]

# Letters, digits and separators only: anything else (dots, slashes, "@euro") is not a tag we accept,
# which also keeps a tag safe to use as a directory name.
_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,3}")


def normalize_language(tag: str) -> str:
    """Return the canonical form of a language tag, as babel writes it.

    Case and separators are tolerated: ``"SV-se"``, ``"sv_SE"`` and ``"sv-SE"`` all give ``"sv_SE"``;
    ``"de-CH"`` gives ``"de_CH"``, ``"zh-hant-tw"`` gives ``"zh_Hant_TW"``.

    Args:
        tag: A language tag such as a host stores on a customer card.

    Returns:
        The tag as ``language[_Script][_TERRITORY][_VARIANT]``.

    Raises:
        ConfigurationError: The text is not a language tag.
    """
    text = tag.strip() if isinstance(tag, str) else ""
    if not _TAG.fullmatch(text):
        raise ConfigurationError(f"not a language tag: {tag!r}")
    try:
        language, territory, script, variant = parse_locale(text.replace("-", "_"))[:4]
    except ValueError as exc:
        raise ConfigurationError(f"not a language tag: {tag!r} ({exc})") from None
    return "_".join(part for part in (language, script, territory, variant) if part)


def normalize_fallbacks(fallbacks: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Normalise the keys and values of a fallback mapping (``{"nb": ["no", "da"]}``).

    Raises:
        ConfigurationError: A key or value is not a language tag, or a value is a bare string.
    """
    result: dict[str, tuple[str, ...]] = {}
    for key, targets in fallbacks.items():
        if isinstance(targets, str):
            raise ConfigurationError(f"fallbacks[{key!r}] must be a list of tags, not the string {targets!r}")
        result[normalize_language(key)] = tuple(normalize_language(target) for target in targets)
    return result


def _truncations(tag: str) -> list[str]:
    """``"zh_Hant_TW"`` -> ``["zh_Hant_TW", "zh_Hant", "zh"]``: the tag and its parents."""
    parts = tag.split("_")
    return ["_".join(parts[:end]) for end in range(len(parts), 0, -1)]


def language_chain(
    language: str | None, *, default: str, fallbacks: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Return the languages to try, in order, for a recipient's (normalised) language.

    The order is: the exact tag, its parents (``de_CH`` -> ``de``), the configured extra fallbacks of
    each of those (followed, in turn, by their parents and their own fallbacks), then the default
    language and its parents. No language appears twice.

    Args:
        language: A normalised tag, or ``None`` when the recipient has no language.
        default: The set's normalised default language.
        fallbacks: Normalised extra fallbacks (see :func:`normalize_fallbacks`).
    """
    chain: list[str] = []

    def visit(tag: str) -> None:
        parents = [t for t in _truncations(tag) if t not in chain]
        chain.extend(parents)
        for parent in parents:
            for target in fallbacks.get(parent, ()):
                if target not in chain:
                    visit(target)

    if language is not None:
        visit(language)
    for tag in _truncations(default):
        if tag not in chain:
            chain.append(tag)
    return tuple(chain)


def formatting_locale(used: str, requested: str | None, cache: dict[str, Locale]) -> Locale:
    """Return the babel locale that formats a template written in ``used``.

    When the recipient asked for a more specific form of the same language (``de_CH`` for a ``de``
    template), that form formats numbers and dates, so a Swiss customer sees Swiss separators in a
    German text. Otherwise the template's own language does, never a language the text is not in.
    Locales babel does not know fall back to their parents, then to English.
    """
    candidates: list[str] = []
    if requested is not None and requested.split("_")[0] == used.split("_", maxsplit=1)[0]:
        candidates.extend(_truncations(requested))
    candidates.extend(_truncations(used))
    candidates.append("en")
    for tag in candidates:
        found = cache.get(tag)
        if found is not None:
            return found
        try:
            locale = Locale.parse(tag)
        except (UnknownLocaleError, ValueError):
            continue
        cache[tag] = locale
        return locale
    raise AssertionError("babel always knows 'en'")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class LanguageResolution:
    """Which language of a kind a recipient gets, and how it was found.

    Attributes:
        kind: The document kind (``"invoice"``, ``"dunning-1"``, ...).
        requested: The recipient's language as given (``None`` when the recipient has none).
        language_used: The language whose template was found.
        tried: The languages tried in order, ending with ``language_used``.
    """

    kind: str
    requested: str | None
    language_used: str
    tried: tuple[str, ...]
